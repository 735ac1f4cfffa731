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
end
