#!/usr/bin/ruby
# Blocking calls end promptly when Ruby interrupts them (Thread#kill,
# Thread#raise through Timeout.timeout, Ctrl-C's SIGINT), the late reply is
# dropped and the client stays usable; a signal trap handler does not end
# the call.  QEMU stopped with SIGSTOP keeps a command waiting; an event
# that never comes keeps a wait_event waiting.
require "json"
require "rbconfig"
require "socket"
require "timeout"
require "qemu_helper"

class TestInterrupt < Minitest::Test
  include QemuHelper

  # Generous for a loaded machine, and far below the 30 s the calls wait.
  PROMPT = 2.0

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Starts the block in a thread, waits until that thread is blocked in C
  # (status "sleep"), returns the thread.
  def blocked_thread(&block)
    t = Thread.new(&block)
    t.report_on_exception = false
    deadline = now + 10
    sleep 0.01 until t.status == "sleep" || !t.alive? || now > deadline
    sleep 0.1 # into the wait itself, past the GVL release
    t
  end

  # The client answers the next command with its own reply.
  def assert_usable(c)
    version = c.execute("query-version", timeout: 10)
    assert_kind_of Hash, version["qemu"]
    refute version.key?("status")
    assert_includes %w[running paused], c.execute("query-status", timeout: 10)["status"]
  end

  def test_timeout_error_is_a_timeout_error
    assert_operator LibQMP::TimeoutError, :<, Timeout::Error
    assert_operator LibQMP::TimeoutError, :<, LibQMP::Error
    c = connect
    @qemu.signal(:STOP)
    e = assert_raises(Timeout::Error) { c.execute("query-status", timeout: 0.2) }
    assert_kind_of LibQMP::TimeoutError, e
    assert_kind_of LibQMP::Error, e
    assert_equal LibQMP::ETIMEDOUT, e.code
    assert_raises(Timeout::Error) { c.wait_event("NO-SUCH-EVENT", timeout: 0.2) }
    @qemu.signal(:CONT)
    assert_usable(c)
  end

  def test_thread_kill_ends_execute
    c = connect
    @qemu.signal(:STOP)
    t = blocked_thread { c.execute("query-status", timeout: 30) }
    t0 = now
    t.kill
    assert t.join(PROMPT), "Thread#kill did not end the execute within #{PROMPT} s"
    assert_operator now - t0, :<, PROMPT
    @qemu.signal(:CONT)
    assert_usable(c)
  end

  def test_thread_kill_ends_wait_event_and_process
    c = connect
    t = blocked_thread { c.wait_event("NO-SUCH-EVENT", timeout: Float::INFINITY) }
    t.kill
    assert t.join(PROMPT), "Thread#kill did not end wait_event"
    c.on_event("NO-SUCH-EVENT") { flunk "no such event" }
    t = blocked_thread { c.process(30) }
    t.kill
    assert t.join(PROMPT), "Thread#kill did not end process"
    t = blocked_thread { c.each_event(timeout: 30) { flunk "no event" } }
    t.kill
    assert t.join(PROMPT), "Thread#kill did not end each_event"
    assert_usable(c)
  end

  def test_timeout_timeout_ends_execute_and_wait_event
    c = connect
    @qemu.signal(:STOP)
    t0 = now
    assert_raises(Timeout::Error) { Timeout.timeout(0.3) { c.execute("query-status", timeout: 30) } }
    assert_operator now - t0, :<, PROMPT
    @qemu.signal(:CONT)
    assert_usable(c)
    t0 = now
    assert_raises(Timeout::Error) { Timeout.timeout(0.3) { c.wait_event("NO-SUCH-EVENT", timeout: 30) } }
    assert_operator now - t0, :<, PROMPT
    assert_usable(c)
  end

  def test_thread_raise_reaches_the_caller
    c = connect
    @qemu.signal(:STOP)
    t = blocked_thread do
      c.execute("query-status", timeout: 30)
    rescue RuntimeError => e
      e.message
    end
    t.raise(RuntimeError, "stop waiting")
    assert t.join(PROMPT)
    assert_equal "stop waiting", t.value
    @qemu.signal(:CONT)
    assert_usable(c)
  end

  def test_trap_handler_does_not_end_the_call
    c = connect
    trapped = false
    old = trap("USR1") { trapped = true }
    begin
      seq = c.event_seq
      helper = Thread.new do
        sleep 0.3
        Process.kill(:USR1, Process.pid)
        sleep 0.3
        # The event the wait below is for (threads share a client).
        c.execute("stop")
      end
      ev = c.wait_event("STOP", after: seq, timeout: 10)
      helper.join
      assert trapped, "the USR1 trap handler did not run"
      assert_equal "STOP", ev.name
    ensure
      trap("USR1", old)
    end
    assert_usable(c)
  end

  def test_thread_kill_and_timeout_end_connect
    # A socket that does not exist yet is retried until the timeout.
    missing = File.join(@qemu.dir, "not-yet.sock")
    client = LibQMP::Client.new
    t = blocked_thread { client.connect_unix(missing, timeout: 30) }
    t.kill
    assert t.join(PROMPT), "Thread#kill did not end connect_unix"
    refute client.connected?
    client.close
    t0 = now
    assert_raises(Timeout::Error) { Timeout.timeout(0.3) { LibQMP::Client.connect_unix(missing, timeout: 30) } }
    assert_operator now - t0, :<, PROMPT
    # A connect after these works.
    assert_usable(connect)
  end

  # --- every blocking call ends within AFTER_INTERRUPT of its interrupt ---

  # What the calls below promise: well under a second, even on a loaded machine.
  AFTER_INTERRUPT = 1.0

  # A scripted peer for what QEMU does not do on demand, on a Unix socket
  # in QEMU's private directory, or on TCP (tcp: true): a listener that
  # accepts and never greets (greet: false), or a QMP server that greets,
  # answers every command with {} (query-name with its name) and never
  # answers the commands in SILENT.  #received lists the commands it read.
  class Peer
    SILENT = %w[query-qmp-schema x-never-answered].freeze
    GREETING = '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, ' \
               '"capabilities": []}}'

    attr_reader :path, :port, :received

    def initialize(dir, greet:, tcp: false)
      if tcp
        @server = TCPServer.new("127.0.0.1", 0)
        @port = @server.addr[1]
      else
        @path = File.join(dir, "peer-#{greet ? "silent" : "mute"}.sock")
        @server = UNIXServer.new(@path)
      end
      @received = Queue.new
      @seen = []
      @seen_lock = Mutex.new
      @conns = Queue.new
      @thread = Thread.new do
        loop do
          conn = @server.accept
          @conns << conn
          Thread.new { converse(conn) } if greet
        end
      rescue IOError, SystemCallError
        nil # closed
      end
    end

    def converse(conn)
      conn.write("#{GREETING}\n")
      each_message(conn) do |msg|
        @received << msg["execute"]
        @seen_lock.synchronize { @seen << msg["execute"] }
        next if SILENT.include?(msg["execute"])

        ret = msg["execute"] == "query-name" ? { "name" => "peer" } : {}
        conn.write("#{JSON.generate("return" => ret, "id" => msg["id"])}\n")
      end
    rescue IOError, SystemCallError
      nil
    end

    # Yields each JSON object the client sends (QMP needs no newline after one).
    def each_message(conn)
      buf = +""
      depth = 0
      in_string = escaped = false
      loop do
        conn.readpartial(4096).each_char do |ch|
          buf << ch
          if in_string
            if escaped then escaped = false
            elsif ch == "\\" then escaped = true
            elsif ch == '"' then in_string = false
            end
          elsif ch == '"' then in_string = true
          elsif ch == "{" then depth += 1
          elsif ch == "}"
            depth -= 1
            if depth.zero?
              yield JSON.parse(buf)
              buf = +""
            end
          end
        end
      end
    rescue EOFError
      nil
    end

    def commands = Array.new(@received.size) { @received.pop }

    # Whether a command of that name has come (without taking it from #commands).
    def seen?(name) = @seen_lock.synchronize { @seen.include?(name) }

    def close
      @server.close
      @thread.join
      @conns.pop.close until @conns.empty?
    end
  end

  def peer(**options)
    p = Peer.new(@qemu.dir, **options)
    @peers ||= []
    @peers << p
    p
  end

  def teardown
    (@peers || []).each(&:close)
    super
  end

  # Ends the block's call twice, by Thread#kill and by Timeout.timeout (0.3
  # s), and checks that each time it returns within AFTER_INTERRUPT of the
  # interrupt, leaving no thread blocked.  The block is called with the
  # client (one for both rounds) and makes the blocking call.
  def assert_interrupts_end(client, what)
    t = blocked_thread { yield client }
    t0 = now
    t.kill
    assert t.join(AFTER_INTERRUPT), "Thread#kill did not end #{what} within #{AFTER_INTERRUPT} s"
    assert_operator now - t0, :<, AFTER_INTERRUPT
    refute t.alive?
    threads = Thread.list.size
    t0 = now
    assert_raises(Timeout::Error) { Timeout.timeout(0.3) { yield client } }
    assert_operator now - t0, :<, 0.3 + AFTER_INTERRUPT, "Timeout.timeout did not end #{what} in time"
    assert_equal threads, Thread.list.size, "a thread was left behind by #{what}"
  end

  # The client, never connected or after an interrupted connect, connects to QEMU and works.
  def assert_connects_after(client)
    refute client.connected?
    client.connect_unix(@qemu.sock, timeout: 30)
    assert_usable(client)
  ensure
    client.close
  end

  def test_interrupts_end_connect_to_a_missing_socket
    # The socket does not exist yet: libqmp retries until the timeout (30 s).
    missing = File.join(@qemu.dir, "not-yet.sock")
    c = LibQMP::Client.new
    assert_interrupts_end(c, "connect_unix to a missing socket") { |cl| cl.connect_unix(missing, timeout: 30) }
    assert_interrupts_end(c, "connect_agent_unix to a missing socket") do |cl|
      cl.connect_agent_unix(missing, timeout: 30)
    end
    assert_connects_after(c)
  end

  def test_interrupts_end_connect_to_a_socket_that_never_greets
    mute = peer(greet: false)
    c = LibQMP::Client.new
    assert_interrupts_end(c, "connect_unix without a greeting") { |cl| cl.connect_unix(mute.path, timeout: 30) }
    mute_tcp = peer(greet: false, tcp: true)
    assert_interrupts_end(c, "connect_tcp without a greeting") do |cl|
      cl.connect_tcp("127.0.0.1", mute_tcp.port, timeout: 30)
    end
    UNIXSocket.open(mute.path) do |io|
      assert_interrupts_end(c, "from_io without a greeting") { |cl| cl.connect_io(io, timeout: 30) }
    end
    assert_connects_after(c)
  end

  def test_interrupts_end_a_schema_fetch_that_gets_no_answer
    silent = peer(greet: true)
    c = LibQMP::Client.connect_unix(silent.path, timeout: 10)
    begin
      assert_interrupts_end(c, "schema") { |cl| cl.schema(timeout: 30) }
      assert_interrupts_end(c, "schema_has?") { |cl| cl.schema_has?("query-status") }
      assert_interrupts_end(c, "validation=") { |cl| cl.validation = true }
      # The late replies never come; the next command has its own.
      assert_equal({ "name" => "peer" }, c.execute("query-name", timeout: 10))
      assert_equal 0, c.validation
      assert_equal %w[qmp_capabilities] + %w[query-qmp-schema] * 6 + %w[query-name], silent.commands
    ensure
      c.close
    end
  end

  # A USR1 trap handler runs while the main thread is blocked in C; the
  # block gets a Thread whose value is when the signal was sent.  With
  # ready, the signal goes only once ready.call is true (the call has
  # reached its wait), and seconds later: a slow machine cannot send it
  # before the call has started.
  def with_usr1_after(seconds, ready: nil)
    trapped = false
    old = trap("USR1") { trapped = true }
    signaller = Thread.new do
      if ready
        deadline = now + 20
        sleep 0.01 until ready.call || now > deadline
      end
      sleep seconds
      sent = now
      Process.kill(:USR1, Process.pid)
      sent
    end
    yield signaller
  ensure
    signaller&.join
    trap("USR1", old)
    assert trapped, "the USR1 trap handler did not run"
  end

  def test_trap_handler_lets_connect_and_schema_go_on_until_their_deadline
    missing = File.join(@qemu.dir, "not-yet.sock")
    t0 = now
    with_usr1_after(0.3) do
      e = assert_raises(LibQMP::TimeoutError) { LibQMP::Client.connect_unix(missing, timeout: 1.5) }
      refute_kind_of LibQMP::Cancelled, e
    end
    assert_in_delta 1.5, now - t0, 0.5, "the connect went on with what was left of its timeout"
    silent = peer(greet: true)
    c = LibQMP::Client.connect_unix(silent.path, timeout: 10)
    begin
      t0 = now
      with_usr1_after(0.3) { assert_raises(LibQMP::TimeoutError) { c.schema(timeout: 1.5) } }
      assert_in_delta 1.5, now - t0, 0.5, "the schema fetch went on with what was left of its timeout"
      assert_equal({ "name" => "peer" }, c.execute("query-name", timeout: 10))
      # Asked again on a fresh handle: two fetches, each unanswered.
      assert_equal %w[qmp_capabilities query-qmp-schema query-qmp-schema query-name], silent.commands
    ensure
      c.close
    end
  end

  def test_trap_handler_ends_execute_without_sending_it_again
    silent = peer(greet: true)
    c = LibQMP::Client.connect_unix(silent.path, timeout: 10)
    begin
      with_usr1_after(0.1, ready: -> { silent.seen?("x-never-answered") }) do |signaller|
        e = assert_raises(LibQMP::Cancelled) { c.execute("x-never-answered", timeout: 30) }
        assert_operator now - signaller.value, :<, AFTER_INTERRUPT
        assert_equal LibQMP::ECANCELLED, e.code
        assert_match(/trap handler.*not made again/, e.message)
      end
      assert_equal({ "name" => "peer" }, c.execute("query-name", timeout: 10))
      assert_equal %w[qmp_capabilities x-never-answered query-name], silent.commands
    ensure
      c.close
    end
  end

  # Ruby does not start a call's C part while any interrupt flag of the
  # thread is up, also the one a GC finalizer's postponed job raises: such a
  # call is made again, never failed.  In a fresh Ruby process, the clients
  # left to the GC below (they have finalizers) keep some ten of 10,000
  # calls from starting (measured with a counter in the hook); the test
  # server answers each command at once, with an error (it has no script).
  NOT_STARTED_CHILD = <<~'RUBY'
    require "libqmp"
    m = LibQMP::Mock.new
    c = m.connect(timeout: 10)
    failed = 0
    10_000.times do
      5.times { LibQMP::Client.new }
      begin
        c.execute("query-name", { "pad" => "x" * 2000 })
      rescue LibQMP::CommandError
        nil # the test server's answer
      rescue LibQMP::Error => e
        failed += 1
        warn e.inspect
      end
    end
    c.close
    m.close
    puts "failed #{failed}"
  RUBY

  def test_calls_that_ruby_did_not_start_are_made_again
    out = IO.popen([RbConfig.ruby, "-e", NOT_STARTED_CHILD], &:read)
    assert $?.success?
    assert_equal "failed 0", out.chomp
  end

  # Ctrl-C: SIGINT to a child Ruby process blocked in a call; the child
  # rescues Interrupt and then uses the client again.
  CHILD = <<~'RUBY'
    require "libqmp"
    sock, what = ARGV
    c = LibQMP::Client.connect_unix(sock, timeout: 10)
    $stdout.sync = true
    puts "connected"
    $stdin.gets # QEMU is stopped, if the parent wants it so
    begin
      puts "waiting"
      if what == "execute"
        c.execute("query-status", timeout: 30)
      else
        c.wait_event("NO-SUCH-EVENT", timeout: 30)
      end
      puts "returned"
    rescue Interrupt
      puts "interrupted"
    end
    $stdin.gets # the parent has let QEMU go on
    puts c.execute("query-version", timeout: 10).key?("qemu") ? "usable" : "wrong reply"
  RUBY

  def sigint_child(what)
    IO.popen([RbConfig.ruby, "-e", CHILD, @qemu.sock, what], "r+") do |io|
      assert_equal "connected", io.gets&.chomp
      @qemu.signal(:STOP) if what == "execute"
      io.puts "go"
      assert_equal "waiting", io.gets&.chomp
      sleep 0.3
      t0 = now
      Process.kill(:INT, io.pid)
      line = Timeout.timeout(10) { io.gets&.chomp }
      assert_equal "interrupted", line
      assert_operator now - t0, :<, PROMPT
      @qemu.signal(:CONT)
      io.puts "go"
      assert_equal "usable", io.gets&.chomp
    end
    assert $?.success?
  end

  def test_sigint_ends_execute
    sigint_child("execute")
  end

  def test_sigint_ends_wait_event
    sigint_child("wait_event")
  end
end
