# frozen_string_literal: true
#
# LibQMP::Mock, the test server: a scripted QMP server for the tests of
# code that speaks QMP, without QEMU (libqmp's qmp-mock.h).  Required by
# libqmp.rb.
#
#   LibQMP::Mock.open do |m|
#     m.expect("device_del", { "id" => "disk0" })           # answered {"return": {}}
#     m.event("DEVICE_DELETED", { "device" => "disk0" })
#     unplug_disk(m.connect, "disk0")                      # the code under test
#   end   # verifies: MockMismatch names the first mismatch; then stops the server
#
# The server takes the script in order: each expectation is a command the
# code must send (with exactly these arguments, unless nil) and the answer
# it gets; each event is sent after the answer to the expectation before
# it.  A command that does not match is answered with a GenericError that
# says what was expected, so the code under test fails where it went wrong.
# A script item that is not what it claims raises InvalidArgument at the
# call that adds it.  Timeouts are in seconds.
module LibQMP
  # Mock#verify: the conversation was not the script's; the message names
  # the first mismatch, e.g. "qmp_mock: expected command 'stop', got 'cont'".
  class MockMismatch < ProtocolError; end

  class Schema
    # The native holder, for Mock#schema=.
    attr_reader :holder
    private :holder
  end

  class Mock
    # How long verify (and the end of open's block) waits by default.
    VERIFY_TIMEOUT = 5

    # With a block: yields a new Mock, verifies it when the block ends
    # normally and closes it in any case; returns the block's value.
    def self.open(**options)
      m = new(**options)
      return m unless block_given?

      begin
        value = yield m
        m.verify
        value
      ensure
        m.close
      end
    end

    # greeting: {"QMP" => {...}} (a Hash or JSON text); schema: a
    # LibQMP::Schema that checks the script and the conversation.
    def initialize(greeting: nil, schema: nil, verify_timeout: VERIFY_TIMEOUT)
      @native = Native.qmpb_mock_new or raise OutOfMemory.new("out of memory", code: ENOMEM)
      @verify_timeout = verify_timeout
      @clients = []
      self.greeting = greeting if greeting
      self.schema = schema if schema
    end

    # --- the script --------------------------------------------------------

    # The greeting to send (QEMU 7.2's by default); before the server starts.
    def greeting=(greeting)
      call(:qmpb_mock_set_greeting, text(greeting))
    end

    # The next command must be command, with exactly these arguments (a
    # Hash; nil accepts any).  It is answered {"return": returns} ({} by
    # default), or {"error": {"class", "desc"}} with error: [class, desc],
    # or with response: as given (a Hash or JSON text).  Returns self.
    def expect(command, arguments = nil, returns: nil, error: nil, response: nil)
      if [returns, error, response].compact.size > 1
        raise InvalidArgument.new("expect: give one of returns:, error: and response:", code: EINVAL)
      end

      response ||= if error
                     error = { "class" => error[0], "desc" => error[1] } if error.is_a?(Array)
                     { "error" => error }
                   else
                     { "return" => returns.nil? ? {} : returns }
                   end
      call(:qmpb_mock_expect, command.to_s, arguments.nil? ? "" : text(arguments), text(response))
      self
    end

    # An event, sent after the response to the expectation added before it:
    # a name with data (a Hash), or a whole event (a Hash or JSON text).
    def event(event, data = nil)
      if event.is_a?(String) && !event.lstrip.start_with?("{")
        message = { "event" => event }
        message["data"] = data unless data.nil?
        event = message
      elsif !data.nil?
        raise InvalidArgument.new("event: a whole event takes no data", code: EINVAL)
      end
      call(:qmpb_mock_event, text(event))
      self
    end

    # Appends a libvirt .replies recording (commands, their responses and
    # the events between them; ids replaced by the client's own).  A
    # malformed file raises InvalidArgument naming "PATH:LINE".
    def load_replies(path)
      call(:qmpb_mock_load_replies, path.to_s)
      self
    end

    # Checks the script (the part already added too) and the conversation
    # against schema; nil turns checking off.
    def schema=(schema)
      call(:qmpb_mock_set_schema, schema&.send(:holder))
    end

    # --- the connection ------------------------------------------------------

    # Starts the server on a socketpair; returns the client's end, an IO
    # that is the caller's.
    def socketpair
      IO.for_fd(Integer(call(:qmpb_mock_socketpair)))
    end

    # Starts the server listening on a Unix socket at path (which must not
    # exist) for one connection; close removes it.
    def listen_unix(path)
      call(:qmpb_mock_listen_unix, path.to_s)
      self
    end

    # Starts the server on a socketpair and returns a LibQMP::Client
    # connected to it; settings as for Client.new.  Closed with the Mock.
    def connect(timeout: nil, **settings)
      io = socketpair
      begin
        c = Client.from_io(io, timeout: timeout, **settings)
      ensure
        io.close
      end
      @clients << c
      c
    end

    # --- the end ---------------------------------------------------------------

    # Waits up to timeout seconds for the script to be used up; raises
    # MockMismatch naming the first mismatch (an unexpected command, wrong
    # arguments, a schema violation, garbage, a client that left early,
    # expectations never reached).
    def verify(timeout = @verify_timeout)
      r = Native.qmpb_mock_verify(@native, LibQMP.ms(timeout))
      raise MockMismatch.new(r.message, code: r.code) if r && r.code == EPROTO

      LibQMP.check(r)
      nil
    end

    # Closes the clients of connect, stops the server and frees it.
    # Idempotent; later calls raise InvalidArgument.
    def close
      clients = @clients
      @clients = []
      clients.each(&:close)
      Native.qmpb_mock_close(@native)
      nil
    end

    private

    def call(fn, *args) = LibQMP.check(Native.send(fn, @native, *args))

    def text(value) = value.is_a?(String) ? value : JSON.generate(value)
  end
end
