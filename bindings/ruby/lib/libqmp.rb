# frozen_string_literal: true
#
# libqmp for Ruby: a client for QEMU's QMP.
#
#   require "libqmp"
#   LibQMP::Client.open("/tmp/qmp.sock", timeout: 5) do |c|
#     p c.execute("query-status")                  # => {"status"=>"running", ...}
#     c.execute("blockdev-add", driver: "null-co", "node-name": "n0")
#   end
#
# Schema: what this QEMU supports, asked with libvirt-style query strings,
# and commands checked before they are sent (libqmp's qmp-schema.h):
#
#   c.schema_has?("blockdev-add/arg-type/+file/aio/^io_uring")     # => true
#   c.validation = LibQMP::VALIDATE | LibQMP::DENY_DEPRECATED
#   c.execute("blockdev-add", driver: "file", "node-name": "f0",
#             filename: "/tmp/disk.img", aio: "io_urin")      # InvalidArgument, never sent
#   c.execute("drive-backup", args, validate: false)           # this call unchecked
#   LibQMP::Schema.parse(File.read("schema.json")).validate(cmd) # offline; => warnings
#
# A thin layer over the SWIG extension libqmp_ext (LibQMP::Libqmp_ext, made
# from bindings/qmp.i): JSON crosses as text and is parsed with Ruby's json;
# every native call returns a result that carries its own error.
#
# Threads: a blocking call (connect, execute, hmp, getfd, closefd, add_fd,
# wait_event, process, each_event, the schema's) releases the GVL, so other
# Ruby threads run meanwhile.  Several threads may share a client.
#
# Interrupts: every blocking call (connect_*, from_io, execute and hmp,
# getfd, closefd, add_fd, transaction, wait_event, process, each_event,
# the schema's, the agent_* helpers) ends at once when the thread is
# interrupted: Thread#kill, Thread#raise (so Timeout.timeout), Ctrl-C
# (Interrupt in the main thread).  Each runs on a qmp_call handle that
# Ruby's unblocking function cancels (bindings/qmp.i).  A command already
# sent is not taken back: QEMU runs it, and its late reply is dropped; an
# interrupted connect leaves the client unconnected; the client stays
# usable.  A signal trap handler that does not raise also ends the wait
# (so that it can run), as does an interrupt that Thread.handle_interrupt
# defers: the calls that can safely be made again (connect
# to a path or address, wait_event, process, each_event, the schema's,
# agent_ping, agent_commands, agent_file_read, agent_file_write) then go
# on, on a fresh handle with what is left of their timeout; the ones that
# may already have acted (execute and the calls made of it, agent_exec,
# from_io, whose stream may have lost its greeting) raise Cancelled, as
# making them again could run the command twice.  A call that times out
# raises LibQMP::TimeoutError, which is a Timeout::Error.
#
# Events: handlers registered with on_event run in the Ruby thread that
# drives the client, never inside C: libqmp queues the events in C, and the
# queue is drained (handlers called, in order) after every blocking call
# and by process.  A program that only waits for events calls process in a
# loop, or iterates with each_event, which reads the client's ring of recent
# events by sequence number and so also sees those that came earlier.
require "json"
require "timeout"
require "libqmp_ext"

module LibQMP
  Native = Libqmp_ext
  private_constant :Native

  # The status codes of the C API (LibQMP::ETIMEDOUT, ...), as Error#code.
  %w[OK EINVAL ENOMEM EIO ECLOSED ETIMEDOUT EPROTO EHANDSHAKE ENEGOTIATION
     ECOMMAND ETOOBIG ECANCELLED EDEADLK MAX_FDS].each do |name|
    const_set(name, Native.const_get("QMP_#{name}"))
  end

  # Validation flags (qmp-schema.h's QMP_VALIDATE...), for Client#validation=,
  # execute's validate: and Schema#validate: VALIDATE checks commands
  # against the server's schema before they are sent; use of something
  # deprecated or unstable is then a warning, unless DENY_DEPRECATED or
  # DENY_UNSTABLE make it an error (each implies VALIDATE).
  VALIDATE = Native::QMP_VALIDATE
  DENY_DEPRECATED = Native::QMP_VALIDATE_DENY_DEPRECATED
  DENY_UNSTABLE = Native::QMP_VALIDATE_DENY_UNSTABLE

  # The library's version, "MAJOR.MINOR.MICRO".
  VERSION = Native.qmp_version_string

  # Every error of this library is a LibQMP::Error (rescue LibQMP::Error
  # catches them all); #code is a status code (LibQMP::EIO, ...), #errno the
  # system's error for EIO.  A module, so that TimeoutError can also be a
  # Timeout::Error.
  module Error
    attr_reader :code, :errno

    def initialize(message = nil, code: nil, errno: 0)
      super(message)
      @code = code
      @errno = errno
    end
  end

  # The errors that have no more specific class.
  class GenericError < StandardError
    include Error
  end

  # The server answered {"error": {"class": ..., "desc": ...}}.
  class CommandError < GenericError
    attr_reader :error_class, :desc

    def initialize(error_class, desc, message = nil)
      super(message || "#{error_class}: #{desc}", code: ECOMMAND)
      @error_class = error_class
      @desc = desc
    end
  end

  # The call timed out; also a Timeout::Error, as Ruby's own timeouts are.
  class TimeoutError < Timeout::Error
    include Error
  end
  # The connection is gone (the peer hung up, or it was never made).
  class ConnectionClosed < GenericError; end
  # The call was dropped: the client was closed meanwhile, or a signal trap
  # handler interrupted a call that is not made again (execute, agent_exec,
  # from_io: see the top of this file).
  class Cancelled < ConnectionClosed; end
  # The peer sent something that is not QMP.
  class ProtocolError < GenericError; end
  class MessageTooBig < ProtocolError; end
  class HandshakeError < ProtocolError; end
  class NegotiationError < HandshakeError; end
  # A system call failed: #errno says which error.
  class SocketError < GenericError; end
  # A bad argument or a misuse; also a command that validation refused (the
  # message names the command and the path: "blockdev-add:
  # arguments.file.aio: 'io_urin' is not one of threads, native, io_uring")
  # and a malformed schema query.
  class InvalidArgument < GenericError; end
  class OutOfMemory < GenericError; end
  # The call would have waited on itself (QMP_EDEADLK; in C only
  # qmp_client_set_loop_callbacks() from inside a loop callback returns it,
  # which this binding never calls: see qmp-common.h).
  class DeadlockError < GenericError; end

  ERRORS = {
    EINVAL => InvalidArgument, ENOMEM => OutOfMemory, EIO => SocketError,
    ECLOSED => ConnectionClosed, ETIMEDOUT => TimeoutError, EPROTO => ProtocolError,
    EHANDSHAKE => HandshakeError, ENEGOTIATION => NegotiationError,
    ETOOBIG => MessageTooBig, ECANCELLED => Cancelled, EDEADLK => DeadlockError
  }.freeze
  private_constant :ERRORS

  # An event: its name, data ({} when it has none), timestamp (a Time) and
  # sequence number on the client (the one event_seq counts, for handled and
  # waited-for events alike); #to_h is the whole message as QEMU sent it.
  class Event
    attr_reader :name, :data, :timestamp, :seq

    def initialize(message, seq = nil)
      @message = message
      @name = message["event"]
      @data = message["data"] || {}
      ts = message["timestamp"]
      @timestamp = Time.at(ts["seconds"], ts["microseconds"], :usec) if ts
      @seq = seq
    end

    def [](key) = @message[key]
    def to_h = @message

    def inspect
      "#<LibQMP::Event #{@name} seq=#{@seq.inspect} data=#{@data.inspect}>"
    end
    alias to_s inspect
  end

  # The actions of a transaction (Client#transaction).
  class Transaction
    attr_reader :actions

    def initialize
      @actions = []
    end

    # Adds the action type with data: add("block-dirty-bitmap-add", node: "n0", name: "b0").
    def add(type, data = nil, **kwargs)
      @actions << { "type" => LibQMP.name_of(type, "action type"), "data" => LibQMP.arguments(data, kwargs) }
      self
    end
    alias << add
  end

  # Makes a native result into its text, or raises the error it carries.
  def self.check(r)
    raise OutOfMemory.new("out of memory", code: ENOMEM) if r.nil?
    code = r.code
    return r.text && r.text.force_encoding(Encoding::UTF_8) if code == OK

    message = r.message || Native.qmp_strerror(code)
    if code == ECOMMAND
      raise CommandError.new(r.error_class, r.error_desc, message)
    end
    raise ERRORS.fetch(code, GenericError).new(message, code: code, errno: r.sys_errno)
  end

  # The outcome of the last call on a qmp_call handle, read as check reads
  # a native result.
  CallOutcome = Struct.new(:code, :sys_errno, :message, :error_class, :error_desc, :text, :seq)
  private_constant :CallOutcome

  def self.outcome(call)
    code = Native.qmp_call_status(call)
    e = Native.qmp_call_error(call) unless code == OK
    CallOutcome.new(code, e&.sys_errno || 0, e&.message, e&.qmp_class, e&.qmp_desc, Native.qmp_call_result(call),
                    Native.qmp_call_seq(call))
  end

  # Seconds (Integer or Float) into the C API's milliseconds: nil is the
  # client's default timeout, Float::INFINITY waits forever.
  def self.ms(seconds)
    return 0 if seconds.nil?
    return -1 if seconds == Float::INFINITY
    raise ArgumentError, "timeout: expected seconds >= 0, got #{seconds.inspect}" unless seconds.is_a?(Numeric) && seconds >= 0

    [(seconds * 1000).ceil, 1].max.clamp(1, 2**31 - 1)
  end

  # An IO (or anything with fileno) or an Integer into a file descriptor.
  def self.fd_of(f)
    fd = if f.is_a?(Integer) then f
         elsif f.respond_to?(:fileno)
           begin
             f.fileno
           rescue IOError => e
             raise ArgumentError, "not an open file: #{e.message}"
           end
         else raise ArgumentError, "expected an IO or a file descriptor, got #{f.class}"
         end
    raise ArgumentError, "not an open file descriptor: #{f.inspect}" unless fd.is_a?(Integer) && fd >= 0

    fd
  end

  # A command's or event's name: a non-empty String or Symbol.
  def self.name_of(name, what = "command name")
    raise TypeError, "#{what}: expected a String or Symbol, got #{name.inspect}" unless name.is_a?(String) || name.is_a?(Symbol)
    raise ArgumentError, "#{what}: empty" if name.empty?

    name.to_s
  end

  # A command's arguments from a Hash and keywords (keywords win).  The
  # Hash's keys are sent as they are written; a keyword's name has "_"
  # turned into "-" (node_name: is "node-name"), as Python does.  A member
  # whose name has an underscore (block_set_io_throttle's bps_rd) goes in
  # the Hash: execute("block_set_io_throttle", {"bps_rd" => 0}, id: "d0").
  def self.arguments(args, kwargs)
    raise TypeError, "arguments: expected a Hash, got #{args.class}" unless args.nil? || args.is_a?(Hash)

    out = {}
    args&.each do |k, v|
      raise TypeError, "arguments: a key must be a String or Symbol, got #{k.inspect}" unless k.is_a?(String) || k.is_a?(Symbol)

      out[k.to_s] = v
    end
    kwargs.each { |k, v| out[k.to_s.tr("_", "-")] = v }
    out
  end

  # obj as JSON text; what JSON cannot carry (NaN, Infinity) is an ArgumentError.
  def self.json(obj)
    JSON.generate(obj)
  rescue JSON::GeneratorError => e
    raise ArgumentError, "not representable in JSON: #{e.message}"
  end

  # true/false/nil or Integer flags, plus the deny keywords, into the C
  # API's QMP_VALIDATE flags (0: off).
  def self.validation_flags(validate, deny_deprecated: false, deny_unstable: false)
    flags = case validate
            when nil, false then 0
            when true then VALIDATE
            when Integer
              raise InvalidArgument.new("validate: negative flags #{validate}", code: EINVAL) if validate.negative?

              validate
            else
              raise InvalidArgument.new("validate: expected true, false or VALIDATE flags, got #{validate.inspect}",
                                        code: EINVAL)
            end
    flags |= DENY_DEPRECATED if deny_deprecated
    flags |= DENY_UNSTABLE if deny_unstable
    flags.zero? ? 0 : flags | VALIDATE
  end

  # execute's validate: into the C call's setting: nil the client's (0),
  # false/0 not this call, true or flags.
  def self.call_validation(validate)
    return 0 if validate.nil?

    flags = validation_flags(validate)
    flags.zero? ? Native::QMP_VALIDATE_OFF : flags
  end

  # Makes name (e.g. "password") redacted from traces, process-wide.
  def self.add_secret_member(name)
    check(Native.qmpb_add_secret_member(name))
    nil
  end

  # Owns the native client: freed by Client#close or, failing that, by the
  # garbage collector; never while a call on it is running.
  class Handle
    attr_reader :ptr

    def initialize(ptr)
      @ptr = ptr
      @lock = Mutex.new
      @active = 0
      @closed = false
      @freed = false
    end

    # Runs the block with the native pointer, counted as a running call.
    def use
      @lock.synchronize do
        raise ConnectionClosed.new("the client is closed", code: ECLOSED) if @closed

        @active += 1
      end
      begin
        yield @ptr
      ensure
        @lock.synchronize do
          @active -= 1
          free_locked if @closed && @active.zero?
        end
      end
    end

    def closed? = @closed

    # Closes the connection (running calls end with Cancelled) and frees the
    # client once the last running call has returned.
    def close
      ptr = @lock.synchronize do
        return if @closed

        @closed = true
        @ptr
      end
      # The result is freed by the GC; a close cannot fail in a way that matters here.
      Native.qmpb_client_close(ptr)
      @lock.synchronize { free_locked if @active.zero? }
    end

    # The finalizer: the client object is gone, so no call is running.
    def self.finalizer(handle)
      proc { handle.send(:free_locked) }
    end

    private

    def free_locked
      return if @freed

      @freed = true
      Native.qmpb_client_free(@ptr)
    end
  end
  private_constant :Handle

  # What a program run by Client#agent_exec came to: pid (in the guest),
  # exit_code (-1 when a signal ended it), signal (else 0), stdout and
  # stderr (binary Strings), stdout_truncated / stderr_truncated.
  ExecResult = Struct.new(:pid, :exit_code, :signal, :stdout, :stderr, :stdout_truncated, :stderr_truncated) do
    def success? = exit_code.zero? && signal.zero?

    # Raises ExecError unless the program exited with status 0.
    def check!(what = "the program")
      return self if success?

      raise ExecError.new("#{what} was killed by signal #{signal}", self) unless signal.zero?

      raise ExecError.new("#{what} exited with status #{exit_code}", self)
    end
  end

  # Client#agent_exec(check: true): a non-zero exit; #result is the ExecResult.
  class ExecError < GenericError
    attr_reader :result

    def initialize(message, result)
      super(message, code: ECOMMAND)
      @result = result
    end
  end

  class Client
    # Default size of the C-side event queue that feeds on_event handlers.
    EVENT_QUEUE = 1024

    # Connects to the Unix socket path; with a block, yields the client and
    # closes it when the block ends, returning the block's value.
    def self.open(path, timeout: nil, **settings, &block)
      yield_and_close(connect_unix(path, timeout: timeout, **settings), &block)
    end

    # Connects to a guest agent (qemu-ga) through the Unix socket path (the
    # host end of its virtio-serial channel, or qemu-ga's own socket); with
    # a block, yields the client and closes it when the block ends.
    # TimeoutError, naming the guest agent, when no agent answers.
    def self.open_agent(path, timeout: nil, **settings, &block)
      yield_and_close(connect_agent_unix(path, timeout: timeout, **settings), &block)
    end

    # The block form of open and open_agent: the client itself without a
    # block, else the block's value, the client closed however it ends.
    def self.yield_and_close(client)
      return client unless block_given?

      begin
        yield client
      ensure
        client.close
      end
    end
    private_class_method :yield_and_close

    def self.connect_agent_unix(path, timeout: nil, **settings)
      connected(new(**settings)) { |c| c.connect_agent_unix(path, timeout: timeout) }
    end

    def self.connect_unix(path, timeout: nil, **settings)
      connected(new(**settings)) { |c| c.connect_unix(path, timeout: timeout) }
    end

    def self.connect_tcp(host, port, timeout: nil, **settings)
      connected(new(**settings)) { |c| c.connect_tcp(host, port, timeout: timeout) }
    end

    # Talks QMP over io (a UNIXSocket, TCPSocket, ... or an fd); the caller
    # keeps io: the client uses a duplicate of its descriptor.
    def self.from_io(io, timeout: nil, **settings)
      connected(new(**settings)) { |c| c.connect_io(io, timeout: timeout) }
    end

    # Connects c with the block, or closes it and raises.
    def self.connected(c)
      yield c
      c
    rescue Exception # rubocop:disable Lint/RescueException -- closed also on Interrupt
      c.close
      raise
    end
    private_class_method :connected

    # settings: oob: true negotiates out-of-band execution (when the server
    # offers it); default_timeout: the default for calls (seconds; nil: 30;
    # command_timeout: is the same, its older name);
    # event_buffer: events kept for wait_event (1024); max_message_size: bytes;
    # validation: true or VALIDATE flags (see #validation=).
    def initialize(oob: false, default_timeout: nil, command_timeout: nil, event_buffer: nil, max_message_size: nil,
                   event_queue: EVENT_QUEUE, validation: nil)
      ptr = Native.qmpb_client_new or raise OutOfMemory.new("out of memory", code: ENOMEM)
      @handle = Handle.new(ptr)
      ObjectSpace.define_finalizer(self, Handle.finalizer(@handle))
      @handlers = {}
      @next_handler_id = 0
      @event_queue = event_queue
      @queueing = false
      @dispatch_lock = Mutex.new
      @waiters = 0 # threads in process/each_event, which pop the queue themselves
      @waiters_lock = Mutex.new
      @each_event_seq = 0 # where the next each_event starts
      @default_ms = 30_000 # the client's default timeout (qmp_client_set_timeout)
      self.oob = oob if oob
      self.timeout = default_timeout || command_timeout if default_timeout || command_timeout
      call(:qmpb_client_set_event_buffer, event_buffer) if event_buffer
      call(:qmpb_client_set_max_message_size, max_message_size) if max_message_size
      self.validation = validation if validation
    end

    # --- connecting ---------------------------------------------------------

    def connect_unix(path, timeout: nil)
      drive(:qmpb_client_connect_unix, path.to_s, timeout: LibQMP.ms(timeout))
      self
    end

    def connect_agent_unix(path, timeout: nil)
      drive(:qmpb_client_connect_agent_unix, path.to_s, timeout: LibQMP.ms(timeout))
      self
    end

    # True while connected to a guest agent.
    def agent?
      @handle.use { |b| Native.qmpb_client_is_agent(b) == 1 }
    rescue ConnectionClosed
      false
    end

    # --- guest agent helpers (InvalidArgument on a monitor connection)

    # True when the agent answers guest-ping within timeout (seconds; nil:
    # one second), false when it does not.
    def agent_ping(timeout: nil)
      drive(:qmpb_agent_ping, timeout: timeout.nil? ? 0 : LibQMP.ms(timeout), default: 1000)
      true
    rescue TimeoutError
      false
    end

    # [names, version]: the commands the agent has enabled (those blocked
    # with qemu-ga -b left out) and its version string.
    def agent_commands
      o = JSON.parse(drive(:qmpb_agent_commands))
      [o["commands"], o["version"]]
    end

    # Runs argv (argv[0] a path in the guest) through guest-exec until it
    # exits; returns an ExecResult (stdout/stderr as binary Strings).
    # input: bytes for its stdin; env: ["NAME=value", ...] or a Hash;
    # timeout: seconds to wait (nil: the client's default; TimeoutError when
    # it runs longer).  check: true raises ExecError on a non-zero exit or a
    # signal.  CommandError when the agent refuses (a missing program).
    def agent_exec(argv, input: nil, env: nil, timeout: nil, check: false)
      argv = Array(argv).map(&:to_s)
      raise InvalidArgument.new("argv: empty (argv[0] is the program to run)", code: EINVAL) if argv.empty?

      env = env.map { |k, v| "#{k}=#{v}" } if env.is_a?(Hash)
      env_json = env.nil? ? nil : JSON.generate(env.to_a)
      input_hex = input.nil? ? nil : input.to_s.unpack1("H*")
      # Made again after a trap handler, the program could run twice: Cancelled.
      o = JSON.parse(drive(:qmpb_agent_exec, JSON.generate(argv), env_json, input_hex,
                           timeout: LibQMP.ms(timeout), again: false))
      r = ExecResult.new(o["pid"], o["exit_code"], o["signal"], [o["out"]].pack("H*"), [o["err"]].pack("H*"),
                         o["out_truncated"], o["err_truncated"])
      r.check!(argv[0]) if check
      r
    end

    # The contents of a guest file as a binary String.  max_bytes:
    # MessageTooBig beyond it (nil: 64 MiB).  CommandError when the agent
    # refuses (a missing file...).
    def agent_file_read(path, max_bytes: nil)
      [drive(:qmpb_agent_file_read, path.to_s, max_bytes.nil? ? 0 : Integer(max_bytes))].pack("H*")
    end

    # Writes data (a String, as bytes) to a guest file, creating or
    # truncating it.  CommandError when the agent refuses.
    def agent_file_write(path, data)
      drive(:qmpb_agent_file_write, path.to_s, data.to_s.unpack1("H*"))
      nil
    end

    def connect_tcp(host, port, timeout: nil)
      drive(:qmpb_client_connect_tcp, host.to_s, port.to_s, timeout: LibQMP.ms(timeout))
      self
    end

    def connect_io(io, timeout: nil)
      source = io.is_a?(IO) ? io : IO.for_fd(LibQMP.fd_of(io), autoclose: false)
      ms = LibQMP.ms(timeout)
      # The client takes the descriptor, also on failure: a duplicate for
      # each attempt.  Not made again after a trap handler: the stream's
      # greeting may have been read.
      r = blocking(again: false) do |b, call|
        copy = source.dup
        copy.autoclose = false
        Native.qmpb_client_connect_fd(b, call, copy.fileno, ms)
      end
      LibQMP.check(r)
      self
    end

    # Closes the connection; calls still running in other threads raise
    # Cancelled.  Further calls raise ConnectionClosed.  Idempotent.
    def close
      @handle.close
      nil
    end

    def closed? = @handle.closed?

    def connected?
      !closed? && @handle.use { |b| Native.qmpb_client_is_connected(b) == 1 }
    end

    # The greeting, {"QMP" => {"version" => ..., "capabilities" => [...]}}.
    def greeting = JSON.parse(call(:qmpb_client_greeting))

    def capability?(name) = @handle.use { |b| Native.qmpb_client_has_capability(b, name.to_s) == 1 }

    # The connection's socket descriptor (borrowed), or -1.
    def fileno = @handle.use { |b| Native.qmpb_client_get_fd(b) }

    # Why the connection ended: LibQMP::OK (we closed it), ECLOSED (the peer
    # hung up), EIO, EPROTO, ...
    def close_reason = @handle.use { |b| Native.qmpb_client_close_reason(b) }

    # The default timeout of calls in seconds (Float::INFINITY: none).
    def timeout=(seconds)
      ms = LibQMP.ms(seconds)
      call(:qmpb_client_set_timeout, ms)
      @default_ms = ms
    end

    def oob=(on)
      call(:qmpb_client_set_oob, on ? 1 : 0)
    end

    # --- executing ----------------------------------------------------------

    # Executes command name with arguments (a Hash and/or keywords) and
    # returns the server's "return" value (Hash, Array, ...).  timeout:
    # seconds (nil: the client's default); fds: IOs or ints passed with the
    # command (the caller keeps them); oob: out of band; validate: check the
    # command against the server's schema first (true, or VALIDATE flags such
    # as VALIDATE | DENY_DEPRECATED) or not (false), nil: as the client's
    # #validation says.  A command validation refuses raises InvalidArgument
    # and is not sent.  An argument named like one of these options goes in
    # the Hash: execute("x", {"timeout" => 1}).
    def execute(name, arguments = nil, timeout: nil, fds: nil, oob: false, validate: nil, **kwargs)
      command = { "execute" => LibQMP.name_of(name) }
      args = LibQMP.arguments(arguments, kwargs)
      command["arguments"] = args unless args.empty?
      execute_json(LibQMP.json(command), timeout: timeout, fds: fds, oob: oob, validate: validate)
    end

    # Executes a command given as JSON text ({"execute": ..., "arguments": ...}, no "id").
    def execute_json(command_json, timeout: nil, fds: nil, oob: false, validate: nil)
      raise TypeError, "command: expected JSON text, got #{command_json.class}" unless command_json.is_a?(String)

      fds = [fds] unless fds.nil? || fds.is_a?(Array)
      fd_list = (fds || []).map { |f| LibQMP.fd_of(f) }
      if fd_list.size > MAX_FDS
        raise InvalidArgument.new("fds: at most #{MAX_FDS} file descriptors go with one command " \
                                  "(libqmp's limit), got #{fd_list.size}", code: EINVAL)
      end
      ms = LibQMP.ms(timeout)
      flags = LibQMP.call_validation(validate)
      # Made again after a trap handler, the command could run twice: Cancelled.
      r = blocking(again: false) do |_, call|
        Native.qmpb_call_execute(call, command_json, ms, fd_list, oob ? 1 : 0, flags)
      end
      text = LibQMP.check(r)
      JSON.parse(text || "null", quirks_mode: true)
    end

    # Runs a human monitor command line and returns what it printed.
    def hmp(command_line)
      raise TypeError, "hmp: expected a String, got #{command_line.class}" unless command_line.is_a?(String)

      execute("human-monitor-command", { "command-line" => command_line }) || ""
    end

    # Executes "transaction": with a block, yields a Transaction to add the
    # actions to; or pass [{"type" => ..., "data" => ...}, ...].  An action
    # without data is sent with "data" => {}.
    def transaction(actions = nil, completion_mode: nil, timeout: nil)
      if block_given?
        t = Transaction.new
        yield t
        actions = (actions || []) + t.actions
      end
      raise TypeError, "transaction: expected an Array of actions, got #{actions.class}" unless actions.nil? || actions.is_a?(Array)

      actions = (actions || []).map { |a| a.is_a?(Hash) && a["data"].nil? && a[:data].nil? ? a.merge("data" => {}) : a }
      args = { "actions" => actions }
      args["properties"] = { "completion-mode" => completion_mode.to_s } if completion_mode
      execute("transaction", args, timeout: timeout)
    end

    # Passes file (an IO or fd; the caller keeps it) to QEMU as fdname.
    def getfd(file, fdname)
      execute("getfd", { "fdname" => LibQMP.name_of(fdname, "fdname") }, fds: [LibQMP.fd_of(file)])
      nil
    end

    def closefd(fdname)
      execute("closefd", { "fdname" => LibQMP.name_of(fdname, "fdname") })
      nil
    end

    # Adds file (an IO or fd; the caller keeps it) to fd set fdset_id (nil:
    # a new set); returns {"fdset-id" => N, "fd" => M}.
    def add_fd(file, fdset_id: nil, opaque: nil)
      args = {}
      args["fdset-id"] = Integer(fdset_id) if fdset_id
      args["opaque"] = opaque.to_s if opaque
      execute("add-fd", args, fds: [LibQMP.fd_of(file)])
    end

    # --- the schema ---------------------------------------------------------

    # Whether the server's schema has what query names (a libvirt-style
    # query string, see Schema#has?), e.g.
    # "blockdev-add/arg-type/+file/aio/^io_uring".  The schema is fetched
    # once per connection (a round trip, GVL released), then kept.  Raises
    # InvalidArgument for a malformed query, ConnectionClosed when not
    # connected.
    def schema_has?(query) = drive(:qmpb_client_schema_has, query.to_s) == "true"
    alias schema_has schema_has?

    # The server's schema, a LibQMP::Schema (fetched once per connection;
    # timeout: seconds, nil: the client's default).  It stays usable after
    # the client is closed.
    def schema(timeout: nil)
      holder = Native.qmpb_schema_new or raise OutOfMemory.new("out of memory", code: ENOMEM)
      drive(:qmpb_client_get_schema, holder, timeout: LibQMP.ms(timeout))
      Schema.send(:wrap, holder)
    end

    # The validation flags (0: off).
    def validation = @handle.use { |b| Native.qmpb_client_get_validation(b) }

    # Checks every command against the server's schema before it is sent
    # (true, false, or VALIDATE flags: VALIDATE | DENY_DEPRECATED ...); a
    # mistake raises InvalidArgument without reaching QEMU.  When connected,
    # this fetches the schema.
    def validation=(flags)
      drive(:qmpb_client_set_validation, LibQMP.validation_flags(flags))
    end

    # validation = VALIDATE with the deny options as keywords:
    # set_validation(deny_deprecated: true); set_validation(false) turns it off.
    def set_validation(validate = true, deny_deprecated: false, deny_unstable: false)
      drive(:qmpb_client_set_validation,
            LibQMP.validation_flags(validate, deny_deprecated: deny_deprecated, deny_unstable: deny_unstable))
      nil
    end

    # --- events -------------------------------------------------------------

    # The newest event's sequence number: take it before a command whose
    # event you will wait for, and pass it as wait_event's after:.
    def event_seq = @handle.use { |b| Native.qmpb_client_event_seq(b) }

    # Waits for an event named name (nil: any) whose data contains match (a
    # Hash, compared recursively) and returns it (an Event).  after: a
    # sequence number from event_seq; events after it count even if they
    # came before this call, so none is lost between a command and the wait
    # for its event; nil: only events from now on.  The Event's seq is its
    # sequence number: pass it as after: to wait for the next one without
    # missing any.  Raises TimeoutError.
    def wait_event(name = nil, match: nil, after: nil, timeout: nil)
      after ||= event_seq
      match_json = match && !match.empty? ? JSON.generate(match) : ""
      after = Integer(after)
      # The same after: on a fresh handle finds the same events: nothing is lost.
      r = blocking(timeout: LibQMP.ms(timeout)) do |_, call, left|
        Native.qmpb_call_wait_event(call, name.to_s, match_json, after, left)
      end
      Event.new(JSON.parse(LibQMP.check(r)), r.seq)
    end

    # Calls the block with every event named name (nil: every event), in the
    # thread that drives the client (see the top of this file); returns an
    # id for off_event.  An exception raised by a handler propagates out of
    # the call that dispatched it.
    def on_event(name = nil, &handler)
      raise ArgumentError, "on_event needs a block" unless handler

      unless @queueing
        call(:qmpb_client_queue_events, @event_queue)
        @queueing = true
      end
      id = (@next_handler_id += 1)
      @handlers = @handlers.merge(id => [name&.to_s, handler])
      id
    end

    def off_event(id)
      @handlers = @handlers.reject { |k, _| k == id }
      nil
    end

    # Events dropped because the queue for handlers was full.
    def events_dropped = @handle.use { |b| Native.qmpb_client_events_dropped(b) }

    # Waits up to timeout seconds (0: do not wait) for an event, then
    # dispatches every queued event to the handlers; returns how many.
    def process(timeout = 0)
      raise InvalidArgument.new("process: no event handler registered", code: EINVAL) unless @queueing
      return dispatch_queued if timeout == 0

      n = 0
      waiting do
        ev = next_event(LibQMP.ms(timeout))
        if ev
          n += 1
          run_handlers(ev)
        end
      end
      n + dispatch_queued
    end

    # Yields every event named name (nil: every event), in order, until the
    # connection closes or, with timeout:, until none came for that many
    # seconds; without a block, an Enumerator.  It reads the client's ring
    # of recent events by sequence number (as wait_event's after: does), so
    # it also yields the events that arrived before it was called, during
    # earlier calls: from after: (a sequence number) if given, else from
    # where the previous each_event on this client stopped, else from the
    # connection's first event.  Events older than the ring (event_buffer:,
    # 1024 by default) are gone.  The handlers of on_event see each event
    # before the block does.
    def each_event(name = nil, after: nil, timeout: Float::INFINITY)
      return enum_for(:each_event, name, after: after, timeout: timeout) unless block_given?

      cursor = after.nil? ? @each_event_seq : Integer(after)
      loop do
        ev = begin
          wait_event(name, after: cursor, timeout: timeout)
        rescue TimeoutError, ConnectionClosed
          break
        end
        cursor = ev.seq
        @each_event_seq = cursor if after.nil?
        yield ev
      end
      nil
    end

    def inspect
      state = closed? ? "closed" : (connected? ? "connected" : "not connected")
      "#<LibQMP::Client #{state}>"
    end

    private

    # A call that does not drive the connection: its result's text.
    def call(fn, *args)
      @handle.use { |b| LibQMP.check(Native.send(fn, b, *args)) }
    end

    # The shim's blocking call fn(b, call, *args[, timeout]) through
    # blocking: its result's text.  timeout: milliseconds (0: the client's
    # default, or default:), passed last, and what is left of it when the
    # call is made again.
    def drive(fn, *args, timeout: nil, default: nil, again: true)
      r = blocking(timeout: timeout, default: default, again: again) do |b, call, left|
        left.nil? ? Native.send(fn, b, call, *args) : Native.send(fn, b, call, *args, left)
      end
      LibQMP.check(r)
    end

    # Marks a call that Ruby's unblocking function ended.
    INTERRUPTED = Object.new.freeze
    private_constant :INTERRUPTED

    # A blocking call, on a fresh qmp_call handle (qmp-call.h): the block
    # gets the native client, the handle and the timeout in ms (timeout:,
    # nil when the call has none), makes the native call, and returns its
    # result, or its status (an Integer) when the outcome is the handle's.
    # The native call releases the GVL, and Ruby's unblocking function
    # cancels the handle (the SWIGRUBY block of bindings/qmp.i), so the
    # wait ends at once.  Then the handle is freed and Ruby's pending
    # interrupts run: an exception (Thread#kill, Thread#raise,
    # Timeout.timeout, Interrupt) propagates from here.  When none raises
    # (a trap handler ran, or Thread.handle_interrupt deferred it), a call
    # that may be made again (again: true) is, on a fresh handle with what
    # is left of its timeout; another raises Cancelled.  The queued events
    # go to the handlers after the call, also when it failed.
    def blocking(timeout: nil, default: nil, again: true)
      deadline = deadline_of(timeout, default)
      left = timeout
      loop do
        r = @handle.use do |b|
          call = nil
          begin
            call = Native.qmpb_call_new(b) or raise OutOfMemory.new("out of memory", code: ENOMEM)
            native = yield b, call, left
            code = native.is_a?(Integer) ? native : native&.code
            # Cancelled, but done all the same (the reply came first): done.
            if code == ECANCELLED && Native.qmp_call_is_cancelled(call) == 1 then INTERRUPTED
            elsif native.is_a?(Integer) then LibQMP.outcome(call)
            else native
            end
          ensure
            Native.qmp_call_free(call) if call
          end
        end
        unless r.equal?(INTERRUPTED)
          dispatch_queued if @queueing && @waiters.zero?
          return r
        end
        # Not run at all: Ruby skips the C part while any interrupt flag is
        # up, also a time slice's; then nothing was done, and it is made again.
        not_run = Native.qmpb_rb_check_interrupts == 1
        unless again || not_run
          raise Cancelled.new("interrupted (a signal's trap handler, or a deferred interrupt); not made again, " \
                              "as it may already have acted (a command sent, a program started)", code: ECANCELLED)
        end
        left = ms_until(deadline) unless timeout.nil?
      end
    end

    # When a call with timeout ms (0: default, else the client's; -1:
    # none) must end, in CLOCK_MONOTONIC seconds; nil: never.
    def deadline_of(ms, default)
      return nil if ms.nil?

      ms = default || @default_ms if ms.zero?
      ms.negative? ? nil : now + ms / 1000.0
    end

    # What is left until deadline in ms, at least 1 (-1: no deadline).
    def ms_until(deadline) = deadline.nil? ? -1 : [((deadline - now) * 1000).ceil, 1].max

    def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    # While a thread waits in process or each_event, it pops the queue and
    # the other threads' calls leave it alone: a waiter blocked in C could
    # not be woken for an event that another thread took.  The count drops
    # before the waiter's last drain, so nothing queued stays behind.
    def waiting
      @waiters_lock.synchronize { @waiters += 1 }
      begin
        yield
      ensure
        @waiters_lock.synchronize { @waiters -= 1 }
      end
    end

    # The next queued event, waiting up to ms; nil on timeout or when the
    # connection is closed.
    def next_event(ms)
      r = blocking(timeout: ms) { |b, call, left| Native.qmpb_client_next_event(b, call, left) }
      text = LibQMP.check(r)
      Event.new(JSON.parse(text), r.seq)
    rescue TimeoutError, ConnectionClosed
      nil
    end

    # Pops and dispatches queued events until none is left.  One thread
    # dispatches at a time, so handlers see the events in order; a handler
    # that makes a call does not dispatch recursively (the loop here goes on).
    def dispatch_queued
      n = 0
      loop do
        return n if @dispatch_lock.owned?
        return n unless @dispatch_lock.try_lock

        begin
          loop do
            r = @handle.use { |b| Native.qmpb_client_poll_event(b) }
            break if r.nil? || r.code != OK || r.text.nil?

            n += 1
            run_handlers(Event.new(JSON.parse(r.text.force_encoding(Encoding::UTF_8)), r.seq))
          end
        ensure
          @dispatch_lock.unlock
        end
        # An event queued after the last poll and before the unlock, that a
        # thread turned away by try_lock would otherwise leave queued.
        return n if closed? || @handle.use { |b| Native.qmpb_client_events_queued(b) }.zero?
      end
    rescue ConnectionClosed
      n
    end

    def run_handlers(ev)
      @handlers.each_value do |name, handler|
        handler.call(ev) if name.nil? || name == ev.name
      end
    end
  end

  # A QMP schema (query-qmp-schema): from Client#schema or, offline, from
  # saved JSON with Schema.parse.  Immutable and safe to share between
  # threads; #close drops it at once, else the garbage collector does (but
  # the GC does not see the C memory a schema holds, some hundreds of KiB:
  # close the ones a loop makes).
  #
  #   s = client.schema
  #   s.has?("blockdev-add/arg-type/+file/aio/^io_uring")  # => true
  #   s.arguments("drive-backup").first   # => {"name"=>"job-id", "type"=>"str", "optional"=>true}
  #   s.validate("drive-backup", device: "d0", target: "/b.img", sync: "full")
  #   # => ["drive-backup: command 'drive-backup' is deprecated"]
  class Schema
    # A schema from query-qmp-schema's return value (JSON text, or the Array
    # itself) or from a whole reply {"return": [...]}.  Raises
    # InvalidArgument when it is not a valid schema.
    def self.parse(json)
      json = JSON.generate(json) unless json.is_a?(String)
      holder = Native.qmpb_schema_new or raise OutOfMemory.new("out of memory", code: ENOMEM)
      LibQMP.check(Native.qmpb_schema_load(holder, json))
      wrap(holder)
    end

    # The native holder is SWIG-owned: the GC's free function frees it (and
    # the schema, unless #close dropped it already).
    def self.wrap(holder)
      s = allocate
      s.instance_variable_set(:@holder, holder)
      s
    end
    private_class_method :new, :wrap

    # Whether query holds: libvirt's query strings (see qmp-schema.h),
    # NAME/arg-type/member/+variant/^enum-value, *member (optional), !type
    # (a built-in type), $feature.  Raises InvalidArgument when malformed.
    def has?(query) = call(:qmpb_schema_has, query.to_s) == "true"
    alias has has?
    alias include? has?

    # The names of the commands, sorted.
    def commands = JSON.parse(call(:qmpb_schema_list, Native::QMP_SCHEMA_COMMANDS))

    # The names of the events, sorted.
    def events = JSON.parse(call(:qmpb_schema_list, Native::QMP_SCHEMA_EVENTS))

    # The arguments of a command or event: an Array of Hashes in the
    # schema's order, {"name", "type" (str, int, enum, object, "[T]",
    # "A|B", ...), "optional"} and where they apply "values" (enums),
    # "features", "tag" and "variant" (members of a union's branch).
    def arguments(name) = JSON.parse(call(:qmpb_schema_arguments, name.to_s))

    # A command, event or type with every type it refers to resolved, as a
    # Hash ({"name", "meta-type" => "command", "arguments", "returns", ...}).
    def describe(name) = JSON.parse(call(:qmpb_schema_describe, name.to_s))

    # Checks a command without sending it: a whole command Hash
    # ({"execute" => ..., "arguments" => ...}), or a name with arguments as
    # for Client#execute.  Returns the warnings (an Array of String, empty
    # when none); raises InvalidArgument with libqmp's message when the
    # command is not valid or uses what deny_deprecated:/deny_unstable:
    # refuse.  flags: VALIDATE flags instead of the keywords.
    def validate(command, arguments = nil, deny_deprecated: false, deny_unstable: false, flags: nil, **kwargs)
      if command.is_a?(Hash)
        raise ArgumentError, "a whole command takes no other arguments" if arguments || !kwargs.empty?
      else
        args = LibQMP.arguments(arguments, kwargs)
        command = { "execute" => command.to_s }
        command["arguments"] = args unless args.empty?
      end
      f = LibQMP.validation_flags(flags.nil? || flags == 0 ? true : flags,
                                  deny_deprecated: deny_deprecated, deny_unstable: deny_unstable)
      JSON.parse(call(:qmpb_schema_validate, JSON.generate(command), f))
    end

    # Drops the schema now; later calls raise InvalidArgument.  Idempotent.
    def close
      Native.qmpb_schema_release(@holder)
      nil
    end

    def closed? = Native.qmpb_schema_loaded(@holder).zero?

    def inspect = "#<LibQMP::Schema#{closed? ? " closed" : ""}>"

    private

    def call(fn, *args) = LibQMP.check(Native.send(fn, @holder, *args))
  end
end

require "libqmp/mock"
