#!/usr/bin/ruby
# The GVL is released while a call blocks: other Ruby threads run.
# Several threads share one client.
require "qemu_helper"

class TestThreads < Minitest::Test
  include QemuHelper

  # Runs the block while a ticker thread counts 10 ms sleeps; returns the ticks.
  def ticks_during
    ticks = 0
    running = true
    ticker = Thread.new do
      while running
        sleep 0.01
        ticks += 1
      end
    end
    sleep 0.05 # the ticker is going
    before = ticks
    yield
    ticks - before
  ensure
    running = false
    ticker&.join
  end

  def test_execute_releases_the_gvl
    c = connect
    @qemu.signal(:STOP)
    ticks = ticks_during do
      assert_raises(LibQMP::TimeoutError) { c.execute("query-status", timeout: 1) }
    end
    @qemu.signal(:CONT)
    # A held GVL would allow about none in that second.
    assert_operator ticks, :>=, 30
  end

  def test_wait_event_releases_the_gvl
    c = connect
    ticks = ticks_during do
      assert_raises(LibQMP::TimeoutError) { c.wait_event("STOP", timeout: 1) }
    end
    assert_operator ticks, :>=, 30
  end

  def test_process_releases_the_gvl
    c = connect
    c.on_event { |_| nil }
    ticks = ticks_during { assert_equal 0, c.process(1) }
    assert_operator ticks, :>=, 30
  end

  def test_connect_releases_the_gvl
    # A listening socket that never greets: connect waits for its timeout.
    require "socket"
    path = File.join(@qemu.dir, "silent.sock")
    server = UNIXServer.new(path)
    ticks = ticks_during do
      assert_raises(LibQMP::TimeoutError) { LibQMP::Client.connect_unix(path, timeout: 1) }
    end
    assert_operator ticks, :>=, 30
  ensure
    server&.close
  end

  def test_threads_share_a_client
    c = connect
    threads = Array.new(4) do |i|
      Thread.new do
        Array.new(50) { c.execute("query-status")["status"] }.uniq + [i]
      end
    end
    threads.each_with_index do |t, i|
      assert_equal ["running", i], t.value
    end
  end

  def test_handler_runs_in_a_ruby_thread
    c = connect
    threads = []
    c.on_event("STOP") { |_| threads << Thread.current }
    waiter = Thread.new { c.process(5) }
    sleep 0.2
    c.execute("stop")
    waiter.join
    c.process(0)
    assert_equal 1, threads.size
    assert_includes [Thread.main, waiter], threads.first
  end
end
