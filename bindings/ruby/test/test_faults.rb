#!/usr/bin/ruby
# Timeouts (QEMU stopped with SIGSTOP) and QEMU killed in the middle of a call.
require "qemu_helper"

class TestFaults < Minitest::Test
  include QemuHelper

  def test_timeout_then_works_again
    c = connect
    @qemu.signal(:STOP)
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    e = assert_raises(LibQMP::TimeoutError) { c.execute("query-status", timeout: 0.5) }
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
    assert_equal LibQMP::ETIMEDOUT, e.code
    assert_in_delta 0.5, elapsed, 0.4
    assert_raises(LibQMP::TimeoutError) { c.wait_event("STOP", timeout: 0.2) }
    @qemu.signal(:CONT)
    # The late reply is dropped: the next call (another command) gets its own.
    version = c.execute("query-version", timeout: 5)
    assert_kind_of Hash, version["qemu"]
    refute version.key?("status")
    assert_equal "running", c.execute("query-status")["status"]
  end

  def test_client_default_timeout
    c = connect(command_timeout: 0.3)
    @qemu.signal(:STOP)
    assert_raises(LibQMP::TimeoutError) { c.execute("query-status") }
    @qemu.signal(:CONT)
    assert_kind_of Hash, c.execute("query-status")
  end

  def test_qemu_killed_mid_call
    c = connect
    @qemu.signal(:STOP) # the call is surely in flight when QEMU dies
    killer = Thread.new do
      sleep 0.3
      @qemu.signal(:KILL)
    end
    assert_raises(LibQMP::ConnectionClosed) { c.execute("query-status", timeout: 10) }
    killer.join
    refute c.connected?
    assert_equal LibQMP::ECLOSED, c.close_reason
    assert_raises(LibQMP::ConnectionClosed) { c.execute("query-status") }
  end

  def test_close_from_another_thread_cancels
    c = connect
    @qemu.signal(:STOP)
    closer = Thread.new do
      sleep 0.3
      c.close
    end
    assert_raises(LibQMP::ConnectionClosed) { c.execute("query-status", timeout: 10) }
    closer.join
    @qemu.signal(:CONT)
    assert c.closed?
  end
end
