#!/usr/bin/ruby
# Events: handlers (blocks) dispatched from the driving thread, wait_event
# with sequence numbers and matches, process and each_event.
require "qemu_helper"

class TestEvents < Minitest::Test
  include QemuHelper

  def test_handler_runs_during_execute
    c = connect
    seen = []
    c.on_event("STOP") { |ev| seen << ev }
    c.execute("stop")
    # The event may come with the reply or just after it.
    c.process(5) if seen.empty?
    assert_equal 1, seen.size
    ev = seen.first
    assert_equal "STOP", ev.name
    assert_kind_of Time, ev.timestamp
    assert_kind_of Integer, ev.seq
    assert_equal ev.name, ev.to_h["event"]
  end

  def test_handler_filters_by_name_and_off_event
    c = connect
    all = []
    stops = []
    all_id = c.on_event { |ev| all << ev.name }
    c.on_event("STOP") { |ev| stops << ev.name }
    c.execute("stop")
    c.execute("cont")
    deadline = Time.now + 5
    c.process(0.2) while all.size < 2 && Time.now < deadline
    assert_equal %w[STOP RESUME], all
    assert_equal %w[STOP], stops
    c.off_event(all_id)
    c.execute("stop")
    deadline = Time.now + 5
    c.process(0.2) while stops.size < 2 && Time.now < deadline
    assert_equal %w[STOP RESUME], all
    assert_equal %w[STOP STOP], stops
  end

  def test_wait_event_after_seq_loses_nothing
    c = connect
    seq = c.event_seq
    c.execute("stop")
    # The STOP may already have arrived during execute: it still counts.
    sleep 0.2
    ev = c.wait_event("STOP", after: seq, timeout: 5)
    assert_equal "STOP", ev.name
    # Without after:, only events from now on: none comes.
    assert_raises(LibQMP::TimeoutError) { c.wait_event("STOP", timeout: 0.3) }
  end

  def test_wait_event_seq
    c = connect
    handled = []
    c.on_event { |ev| handled << ev }
    seq = c.event_seq
    c.execute("stop")
    c.execute("cont")
    stop = c.wait_event("STOP", after: seq, timeout: 5)
    resume = c.wait_event("RESUME", after: stop.seq, timeout: 5)
    assert_kind_of Integer, stop.seq
    assert_operator seq, :<, stop.seq
    assert_operator stop.seq, :<, resume.seq
    assert_operator resume.seq, :<=, c.event_seq
    # The handler saw the same events under the same numbers.
    deadline = Time.now + 5
    c.process(0.2) while handled.size < 2 && Time.now < deadline
    assert_equal [["STOP", stop.seq], ["RESUME", resume.seq]], handled.map { |e| [e.name, e.seq] }
    # Waiting from a waited event's seq finds the next one, not it again.
    assert_raises(LibQMP::TimeoutError) { c.wait_event("RESUME", after: resume.seq, timeout: 0.3) }
  end

  def test_wait_event_seq_loop
    # Waiting from each event's seq sees every one, also those that arrived
    # before the wait.
    c = connect
    seq = c.event_seq
    3.times do
      c.execute("stop")
      c.execute("cont")
    end
    sleep 0.2
    seqs = Array.new(3) { seq = c.wait_event("RESUME", after: seq, timeout: 5).seq }
    assert_equal seqs.sort.uniq, seqs
    assert_equal 3, seqs.size
  end

  def test_wait_event_match
    c = connect
    c.execute("blockdev-add", driver: "null-co", "node-name": "n0")
    c.execute("object-add", "qom-type": "throttle-group", id: "tg0")
    seq = c.event_seq
    c.execute("stop")
    c.execute("cont")
    ev = c.wait_event(nil, match: {}, after: seq, timeout: 5)
    assert_equal "STOP", ev.name
    assert_raises(LibQMP::TimeoutError) do
      c.wait_event("STOP", match: { "nothing" => "like this" }, after: seq, timeout: 0.3)
    end
    ev = c.wait_event("RESUME", after: seq, timeout: 5)
    assert_equal({}, ev.data)
  end

  def test_wait_event_with_data_match
    c = connect
    seq = c.event_seq
    c.execute("system_reset")
    c.execute("system_reset")
    ev = c.wait_event("RESET", match: { "guest" => false }, after: seq, timeout: 5)
    assert_equal false, ev.data["guest"]
    assert_raises(LibQMP::TimeoutError) do
      c.wait_event("RESET", match: { "guest" => true }, after: seq, timeout: 0.3)
    end
  end

  def test_each_event_while_another_thread_executes
    c = connect
    got = []
    enum = c.each_event(timeout: 5) # no block: an Enumerator
    assert_kind_of Enumerator, enum
    driver = Thread.new do
      sleep 0.3 # each_event below is waiting by then
      c.execute("stop")
      c.execute("cont")
    end
    c.each_event(timeout: 5) do |ev|
      got << ev.name
      break if got.size == 2
    end
    driver.join
    assert_equal %w[STOP RESUME], got
    # With nothing coming, each_event ends after its timeout.
    t0 = Time.now
    assert_nil c.each_event(timeout: 0.3) { |ev| flunk "unexpected #{ev.name}" }
    assert_in_delta 0.3, Time.now - t0, 0.25
  end

  def test_handler_error_propagates
    c = connect
    c.on_event("STOP") { raise "boom" }
    err = assert_raises(RuntimeError) do
      c.execute("stop")
      c.process(5)
    end
    assert_equal "boom", err.message
    # The client still works.
    assert_equal "paused", c.execute("query-status")["status"]
  end

  def test_each_event_sees_events_that_came_before_it
    c = connect
    # STOP and RESUME arrive during these calls, before each_event is called.
    c.execute("stop")
    c.execute("cont")
    c.execute("query-status")
    got = []
    c.each_event(timeout: 2) do |ev|
      got << ev
      break if got.size == 2
    end
    assert_equal %w[STOP RESUME], got.map(&:name)
    assert_operator got[0].seq, :<, got[1].seq
    # The next each_event goes on where this one stopped; a name filters.
    c.execute("stop")
    assert_equal ["STOP"], c.each_event("STOP", timeout: 2).first(1).map(&:name)
    assert_nil c.each_event(timeout: 0.2) { |ev| flunk "seen twice: #{ev.name}" }
    # after: starts at a given sequence number.
    assert_equal got[1].seq, c.each_event(after: got[0].seq, timeout: 2).first.seq
  end
end
