#!/usr/bin/ruby
# One test per row of the behaviour table in bindings/README.md (the same
# rows as the Python and Go bindings' behaviour tests), against QEMU.
require "tempfile"
require "timeout"
require "qemu_helper"

class TestBehaviour < Minitest::Test
  include QemuHelper

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # SIGSTOPs QEMU for the block (then SIGCONT).
  def stopped
    @qemu.signal(:STOP)
    yield
  ensure
    @qemu.signal(:CONT)
  end

  def test_row_timeouts_per_call_and_default
    c = connect(default_timeout: 0.3)
    default_elapsed = call_elapsed = nil
    stopped do
      t0 = monotonic
      assert_raises(LibQMP::TimeoutError) { c.execute("query-status") }
      default_elapsed = monotonic - t0
      t0 = monotonic
      e = assert_raises(LibQMP::TimeoutError) { c.execute("query-status", timeout: 1.0) }
      call_elapsed = monotonic - t0
      assert_kind_of Timeout::Error, e
    end
    assert_operator default_elapsed, :>=, 0.25
    assert_operator default_elapsed, :<, 0.9
    assert_operator call_elapsed, :>=, 0.9
    assert_operator call_elapsed, :<, 5
  end

  def test_row_cancellation
    c = connect
    stopped do
      t0 = monotonic
      assert_raises(Timeout::Error) { Timeout.timeout(0.3) { c.execute("query-status", timeout: 60) } }
      assert_operator monotonic - t0, :<, 1.5
      t = Thread.new { c.execute("query-status", timeout: 60) }
      sleep 0.2
      t0 = monotonic
      t.kill
      assert t.join(1.5), "Thread#kill did not end the wait"
      assert_operator monotonic - t0, :<, 1.5
    end
  end

  def test_row_transaction_action_without_data_sends_empty_data
    c = connect
    # {"type" => "abort"} as given, and through the block's add: both reach
    # QEMU's abort action (which fails the transaction on purpose), not its
    # "missing data" error.
    e = assert_raises(LibQMP::CommandError) { c.transaction([{ "type" => "abort" }]) }
    assert_includes e.desc, "Abort action"
    e = assert_raises(LibQMP::CommandError) { c.transaction { |t| t.add("abort") } }
    assert_includes e.desc, "Abort action"
    assert_equal({}, c.transaction([]))
  end

  def test_row_fd_arguments
    c = connect
    Tempfile.create("behaviour") do |f|
      assert_includes c.add_fd(f, opaque: "io"), "fd"
      assert_includes c.add_fd(f.fileno, opaque: "int"), "fd"
    end
    assert_raises(ArgumentError) { c.getfd("not a file", "x") }
    assert_raises(ArgumentError) { c.getfd(-1, "x") }
    assert_raises(ArgumentError) { c.execute("add-fd", fds: [1.5]) }
    closed = Tempfile.create("behaviour").tap(&:close)
    File.unlink(closed.path)
    assert_raises(ArgumentError) { c.add_fd(closed) }
    assert_raises(TypeError) { c.getfd($stdin, nil) }
    assert_equal "running", c.execute("query-status")["status"]
  end

  def test_row_key_spelling
    c = connect
    r, w = IO.pipe
    # a keyword's "_" becomes "-": fdset_id: is "fdset-id"
    assert_equal 5, c.execute("add-fd", fdset_id: 5, fds: [r])["fdset-id"]
    # a Hash's keys are sent as written
    assert_equal 6, c.execute("add-fd", { "fdset-id" => 6 }, fds: [r])["fdset-id"]
    e = assert_raises(LibQMP::CommandError) { c.execute("add-fd", { "fdset_id" => 7 }, fds: [r]) }
    assert_includes e.desc, "fdset_id"
  ensure
    r&.close
    w&.close
  end

  def test_row_error_types_and_qmp_class
    c = connect
    e = assert_raises(LibQMP::CommandError) { c.execute("no-such-command") }
    assert_equal "CommandNotFound", e.error_class
    e = assert_raises(LibQMP::CommandError) { c.execute("qom-get", path: "/nowhere", property: "x") }
    assert_equal "DeviceNotFound", e.error_class
    assert_raises(ArgumentError) { c.execute("qom-set", path: "/machine", property: "x", value: Float::NAN) }
    assert_raises(TypeError) { c.execute(nil) }
    assert_operator LibQMP::TimeoutError, :<, Timeout::Error
    c.close
    assert_raises(LibQMP::ConnectionClosed) { c.execute("query-status") }
  end

  def test_row_events_handler_iterator_and_wait_with_seq
    c = connect
    seen = []
    id = c.on_event("STOP") { |ev| seen << ev }
    seq = c.event_seq
    c.execute("stop")
    c.execute("cont")
    # the wait from seq sees the events that arrived before it
    stop = c.wait_event("STOP", after: seq, timeout: 5)
    resume = c.wait_event("RESUME", after: stop.seq, timeout: 5)
    assert_operator seq, :<, stop.seq
    assert_operator stop.seq, :<, resume.seq
    assert_operator resume.seq, :<=, c.event_seq
    assert_raises(LibQMP::TimeoutError) { c.wait_event("RESUME", after: resume.seq, timeout: 0.3) }
    c.process
    assert_equal [["STOP", stop.seq]], seen.map { |ev| [ev.name, ev.seq] }
    c.off_event(id)
    # the iterator also yields what arrived before it was called
    names = c.each_event(after: seq, timeout: 0.3).map { |ev| [ev.name, ev.seq] }
    assert_equal [["STOP", stop.seq], ["RESUME", resume.seq]], names
  end
end
