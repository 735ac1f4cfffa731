#!/usr/bin/ruby
# Blocking calls end promptly when Ruby interrupts them (Thread#kill,
# Thread#raise through Timeout.timeout, Ctrl-C's SIGINT), the late reply is
# dropped and the client stays usable; a signal trap handler does not end
# the call.  QEMU stopped with SIGSTOP keeps a command waiting; an event
# that never comes keeps a wait_event waiting.
require "rbconfig"
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
