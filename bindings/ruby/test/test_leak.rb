#!/usr/bin/ruby
# 10,000 executes keep memory flat: VmRSS before and after, after GC.
require "qemu_helper"

class TestLeak < Minitest::Test
  include QemuHelper

  def rss_kib
    File.read("/proc/self/status")[/^VmRSS:\s+(\d+)/, 1].to_i
  end

  def run_executes(c, n)
    n.times do |i|
      c.execute("query-status")
      c.execute("no-such-command") rescue LibQMP::CommandError
      c.execute("qom-list", path: "/machine") if (i % 100).zero?
    end
  end

  def test_10000_executes_keep_rss_flat
    c = connect
    c.on_event { |_| nil } # the event queue and dispatch are part of the loop
    run_executes(c, 1000) # warm up: the heap and Ruby's caches settle
    GC.start
    before = rss_kib
    run_executes(c, 10_000)
    GC.start
    after = rss_kib
    growth = after - before
    puts format("\nRSS over 10,000 executes (plus 10,000 failing ones): before %d KiB, after %d KiB, " \
                "growth %d KiB", before, after, growth)
    assert_operator growth, :<, 4096, "RSS grew by #{growth} KiB"
  end

  BAD_BLOCKDEV = { "driver" => "qcow2", "node-name" => "q0",
                   "file" => { "driver" => "file", "filename" => "/dev/null", "aio" => "io_urin" } }.freeze
  BACKUP = { "device" => "d0", "target" => "/nonexistent", "sync" => "full" }.freeze

  def run_schema_calls(c, n)
    n.times do
      c.schema_has?("blockdev-add/arg-type/+file/aio/^io_uring") or raise "schema_has? false"
      c.schema_has?("blockdev-add//aio") rescue LibQMP::InvalidArgument
      c.execute("blockdev-add", BAD_BLOCKDEV, validate: true) rescue LibQMP::InvalidArgument
      s = c.schema
      s.validate("drive-backup", BACKUP).size == 1 or raise "no warning"
      s.validate("blockdev-add", BAD_BLOCKDEV) rescue LibQMP::InvalidArgument
      s.arguments("drive-backup")
      s.close
      c.schema.has?("query-status") # left to the GC
    end
  end

  def measure(label, n)
    GC.start
    before = rss_kib
    n.times { |i| yield i }
    GC.start
    after = rss_kib
    growth = after - before
    puts format("\nRSS over %s: before %d KiB, after %d KiB, growth %d KiB", label, before, after, growth)
    assert_operator growth, :<, 4096, "RSS grew by #{growth} KiB"
  end

  def test_10000_schema_calls_keep_rss_flat
    c = connect
    run_schema_calls(c, 1000)
    measure("10,000 rounds of schema calls (schema_has?, refused executes, schema, validate, arguments)", 1) do
      run_schema_calls(c, 10_000)
    end
  end

  # A whole schema is parsed each time (some 4 ms): fewer rounds.  Half are
  # closed at once, half left to the GC.  (The GC does not see the C memory
  # of a schema, some 400 KiB: schemas left to it pile up until a
  # collection, hence the GC.start every 50.)
  def test_1000_schema_parses_keep_rss_flat
    text = connect.execute_json('{"execute": "query-qmp-schema"}').to_json
    parse = lambda do |i|
      s = LibQMP::Schema.parse(text)
      s.has?("STOP") or raise "no STOP"
      if i.even?
        s.close
      elsif (i % 50) == 1
        GC.start
      end
    end
    100.times(&parse)
    measure("1,000 Schema.parse", 1000, &parse)
  end

  # 1,000 schemas parsed and never closed, nor GC.start called: the GC
  # alone has to free them, which it does in time because the extension
  # tells it about each schema's C memory (rb_gc_adjust_memory_usage).
  # Without that, nothing triggers a collection and RSS grows by some
  # 620 MiB (a schema is about 640 KiB); with it, by a few tens of MiB.
  def test_1000_unclosed_schema_parses_stay_bounded
    text = File.read(File.join(ENV.fetch("LIBQMP_TEST_DATA"), "qemu-7.2", "query-qmp-schema.json"))
    20.times { LibQMP::Schema.parse(text).close }
    GC.start
    before = rss_kib
    peak = before
    gcs = GC.count
    1000.times do |i|
      s = LibQMP::Schema.parse(text)
      s.has?("STOP") or raise "no STOP"
      peak = [peak, rss_kib].max if (i % 20).zero?
    end
    after = rss_kib
    peak = [peak, after].max
    puts format("\nRSS over 1,000 unclosed Schema.parse: before %d KiB, after %d KiB, peak %d KiB, " \
                "growth %d KiB (%d GC runs)", before, after, peak, peak - before, GC.count - gcs)
    assert_operator peak - before, :<, 150 * 1024, "RSS grew by #{peak - before} KiB"
  end
end
