#!/usr/bin/ruby
# LibQMP::Mock, the test server: the unplug example's test (as a toolstack
# tests its QMP code without QEMU), a recording of QEMU 7.2 replayed,
# mismatches, and bad script items refused by the call that adds them.
require "json"
require "tmpdir"
require "minitest/autorun"
require "libqmp"

class TestMock < Minitest::Test
  WAIT = 5

  # tests/data of the source tree: $LIBQMP_TEST_DATA (meson sets it), or
  # found from this file's place in the tree.
  def self.test_data(*parts)
    base = ENV.fetch("LIBQMP_TEST_DATA", "")
    base = File.expand_path("../../../tests/data", __dir__) if base.empty?
    File.join(base, *parts)
  end

  RECORDING = test_data("qemu-7.2", "session.replies")
  SCHEMA = LibQMP::Schema.parse(File.read(test_data("qemu-7.2", "query-qmp-schema.json")))

  # The toolstack function under test: the same as examples/unplug-disk.h.
  def unplug_disk(c, id, timeout)
    seq = c.event_seq # before the command: the event may come at once
    c.execute("device_del", id: id)
    c.wait_event("DEVICE_DELETED", match: { "device" => id }, after: seq, timeout: timeout)
  end

  # --- the example's test (tests/mock/test-unplug.c), with QEMU 7.2's schema

  def test_unplug_completes
    LibQMP::Mock.open(schema: SCHEMA) do |m|
      m.expect("device_del", { "id" => "disk0" })
      # QEMU reports the virtio backend first (no "device"), then the device.
      m.event("DEVICE_DELETED", { "path" => "/machine/peripheral/disk0/virtio-backend" })
      m.event("DEVICE_DELETED", { "device" => "disk0", "path" => "/machine/peripheral/disk0" })
      ev = unplug_disk(m.connect, "disk0", WAIT)
      assert_equal "/machine/peripheral/disk0", ev.data["path"]
    end
  end

  def test_unplug_refused
    LibQMP::Mock.open(schema: SCHEMA) do |m|
      m.expect("device_del", { "id" => "disk0" }, error: ["DeviceNotFound", "Device 'disk0' not found"])
      e = assert_raises(LibQMP::CommandError) { unplug_disk(m.connect, "disk0", WAIT) }
      assert_equal "DeviceNotFound", e.error_class
      assert_equal "Device 'disk0' not found", e.desc
    end
  end

  def test_guest_never_releases
    LibQMP::Mock.open(schema: SCHEMA) do |m|
      m.expect("device_del", { "id" => "disk0" })
      assert_raises(LibQMP::TimeoutError) { unplug_disk(m.connect, "disk0", 0.1) }
    end
  end

  def test_other_device_does_not_count
    LibQMP::Mock.open(schema: SCHEMA) do |m|
      m.expect("device_del", { "id" => "disk0" })
      m.event("DEVICE_DELETED", { "device" => "disk1", "path" => "/machine/peripheral/disk1" })
      assert_raises(LibQMP::TimeoutError) { unplug_disk(m.connect, "disk0", 0.1) }
    end
  end

  def test_wrong_device_is_a_mismatch
    want = "qmp_mock: command 'device_del': expected arguments {\"id\":\"disk0\"}, got {\"id\":\"disk9\"}"
    e = assert_raises(LibQMP::MockMismatch) do
      LibQMP::Mock.open(schema: SCHEMA) do |m|
        m.expect("device_del", { "id" => "disk0" })
        ce = assert_raises(LibQMP::CommandError) { unplug_disk(m.connect, "disk9", WAIT) }
        assert_equal "GenericError", ce.error_class
        assert_equal want, ce.desc
      end
    end
    assert_equal want, e.message
    assert_equal LibQMP::EPROTO, e.code
  end

  # --- the recording

  # The values of a .replies file, read here with Ruby's json, apart from the library.
  def recorded(path) = File.read(path).split("\n\n").reject { |b| b.strip.empty? }.map { |b| JSON.parse(b) }

  def test_replay_qemu_recording
    values = recorded(RECORDING)
    commands = events = 0
    LibQMP::Mock.open do |m|
      m.load_replies(RECORDING)
      c = m.connect
      values.each_with_index do |v, i|
        name = v["execute"]
        next if name.nil? || name == "qmp_capabilities" # the negotiation: done by connect

        seq = c.event_seq
        begin
          result = c.execute(name, v["arguments"])
          error = nil
        rescue LibQMP::CommandError => e
          error = e
        end
        j = i + 1
        while values[j]["event"]
          ev = c.wait_event(values[j]["event"], after: seq, timeout: WAIT)
          assert_equal values[j]["timestamp"], ev["timestamp"]
          events += 1
          j += 1
        end
        if values[j].key?("return")
          assert_nil error
          assert_equal values[j]["return"], result
        else
          assert_equal values[j]["error"]["class"], error.error_class
          assert_equal values[j]["error"]["desc"], error.desc
        end
        commands += 1
      end
    end
    assert_equal 8, commands
    assert_equal 2, events # STOP and RESUME
  end

  def test_recording_fits_the_schema
    m = LibQMP::Mock.new(schema: SCHEMA)
    m.load_replies(RECORDING)
    assert_equal({ "major" => 7, "minor" => 2, "micro" => 22 }, m.connect.execute("query-version")["qemu"])
    # The rest of the recording is never reached: the mismatch names its line.
    e = assert_raises(LibQMP::MockMismatch) { m.verify(0.05) }
    assert_includes e.message, "still expected command 'query-status' (#{RECORDING}:28)"
  ensure
    m&.close
  end

  def test_numbers_pass_exactly
    Dir.mktmpdir("libqmp-rb-mock-") do |d|
      path = File.join(d, "big.replies")
      File.write(path, "{\"execute\": \"query-big\", \"arguments\": {\"n\": 18446744073709551615}, \"id\": \"libvirt-2\"}\n\n" \
                       "{\"return\": {\"size\": 18446744073709551614}, \"id\": \"libvirt-2\"}\n")
      LibQMP::Mock.open do |m|
        m.load_replies(path)
        assert_equal({ "size" => 2**64 - 2 }, m.connect.execute("query-big", n: 2**64 - 1))
      end
    end
  end

  # --- mismatches

  def test_unexpected_command
    e = assert_raises(LibQMP::MockMismatch) do
      LibQMP::Mock.open do |m|
        m.expect("stop")
        ce = assert_raises(LibQMP::CommandError) { m.connect.execute("cont") }
        assert_equal "qmp_mock: expected command 'stop', got 'cont'", ce.desc
      end
    end
    assert_equal "qmp_mock: expected command 'stop', got 'cont'", e.message
  end

  def test_unfinished_script
    e = assert_raises(LibQMP::MockMismatch) do
      LibQMP::Mock.open(verify_timeout: 0.05) do |m|
        m.expect("stop").expect("cont")
        m.connect.execute("stop")
      end
    end
    assert_equal "qmp_mock: expectations never reached after 50 ms: still expected command 'cont'", e.message
  end

  def test_block_leaves_other_exceptions_alone
    assert_raises(KeyError) do
      LibQMP::Mock.open do |m|
        m.expect("stop")
        m.connect
        raise KeyError, "the test's own failure"
      end
    end
  end

  def test_client_leaves_early
    m = LibQMP::Mock.new
    m.expect("stop").expect("cont")
    c = m.connect
    c.execute("stop")
    c.close
    e = assert_raises(LibQMP::MockMismatch) { m.verify(WAIT) }
    assert_equal "qmp_mock: the client closed the connection before the script was used up: " \
                 "still expected command 'cont'", e.message
  ensure
    m&.close
  end

  def test_listen_unix_and_greeting
    Dir.mktmpdir("libqmp-rb-mock-") do |d|
      path = File.join(d, "qmp.sock")
      greeting = { "QMP" => { "version" => { "qemu" => { "major" => 8, "minor" => 0, "micro" => 0 }, "package" => "" },
                              "capabilities" => [] } }
      LibQMP::Mock.open(greeting: greeting) do |m|
        m.expect("query-name", returns: { "name" => "vm0" })
        m.listen_unix(path)
        LibQMP::Client.open(path, timeout: WAIT) do |c|
          assert_equal 8, c.greeting["QMP"]["version"]["qemu"]["major"]
          assert_equal({ "name" => "vm0" }, c.execute("query-name"))
        end
      end
      refute File.exist?(path)
    end
  end

  # --- resources: a closed server leaves no fd or thread behind

  def open_fds = Dir.children("/proc/self/fd").size
  # With want: waits up to a second for the count to come down to it (a
  # joined thread can still be listed for a moment, before the kernel has
  # taken its task away).
  def threads(want = nil)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 1.0
    loop do
      n = Dir.children("/proc/self/task").size
      return n if want.nil? || n <= want || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.001
    end
  end

  def test_many_servers
    fds = open_fds
    tasks = threads
    kept = [] # alive: the end of the block alone must free
    200.times do |i|
      kept << LibQMP::Mock.open do |m|
        m.expect("query-name", returns: { "name" => "vm#{i}" })
        assert_equal({ "name" => "vm#{i}" }, m.connect.execute("query-name"))
        m
      end
    end
    assert_equal fds, open_fds
    assert_equal tasks, threads(tasks)
  end

  # --- bad script items: InvalidArgument at the call that adds them

  def test_bad_items
    m = LibQMP::Mock.new(schema: SCHEMA)
    e = assert_raises(LibQMP::InvalidArgument) { m.expect("stop", response: '{"return": ') }
    assert_equal "the response to 'stop' is not valid JSON: malformed JSON: unexpected end of input at byte 11",
                 e.message
    e = assert_raises(LibQMP::InvalidArgument) { m.expect("stop", response: { "ret" => {} }) }
    assert_equal "the response to 'stop': a response must be {\"return\": ...} or " \
                 "{\"error\": {\"class\": ..., \"desc\": ...}}: it has neither", e.message
    e = assert_raises(LibQMP::InvalidArgument) { m.event({ "data" => {} }) }
    assert_equal "an event must have an \"event\" name", e.message
    e = assert_raises(LibQMP::InvalidArgument) { m.expect("query-status", returns: { "status" => "running" }) }
    assert_equal "the scripted return is not valid: query-status/ret-type: return: missing required member 'running'",
                 e.message
    assert_raises(LibQMP::InvalidArgument) { m.expect("stop", returns: {}, error: %w[GenericError x]) }
    # Nothing was added: the script is empty.
    m.verify(0)
  ensure
    m&.close
  end

  def test_bad_replies_file_names_the_line
    Dir.mktmpdir("libqmp-rb-mock-") do |d|
      path = File.join(d, "bad.replies")
      File.write(path, "{\"execute\": \"stop\"}\n\n{\"return\": {}}\n\n{\"execute\": \"cont\"}\n")
      m = LibQMP::Mock.new
      e = assert_raises(LibQMP::InvalidArgument) { m.load_replies(path) }
      assert_equal "#{path}:5: the command 'cont' has no response (the file ends)", e.message
      assert_raises(LibQMP::SocketError) { m.load_replies(File.join(d, "none.replies")) }
      m.verify(0)
      m.close
    end
  end

  def test_closed
    m = LibQMP::Mock.new
    m.close
    m.close
    e = assert_raises(LibQMP::InvalidArgument) { m.expect("stop") }
    assert_equal "the test server is closed", e.message
  end
end
