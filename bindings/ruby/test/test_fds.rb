#!/usr/bin/ruby
# Passing files: add_fd + query-fdsets, getfd/closefd, execute with fds:.
# The caller keeps its IOs and descriptors.
require "qemu_helper"

class TestFds < Minitest::Test
  include QemuHelper

  def fdsets(c) = c.execute("query-fdsets")

  def test_add_fd_with_an_io
    c = connect
    File.open(File.join(@qemu.dir, "disk.img"), "w+") do |f|
      info = c.add_fd(f, opaque: "my disk")
      assert_kind_of Integer, info["fdset-id"]
      assert_kind_of Integer, info["fd"]
      set = fdsets(c).find { |s| s["fdset-id"] == info["fdset-id"] }
      refute_nil set
      assert_equal [{ "fd" => info["fd"], "opaque" => "my disk" }], set["fds"]
      # A second fd (an int) into the same set.
      info2 = c.add_fd(f.fileno, fdset_id: info["fdset-id"])
      assert_equal info["fdset-id"], info2["fdset-id"]
      set = fdsets(c).find { |s| s["fdset-id"] == info["fdset-id"] }
      assert_equal 2, set["fds"].size
      # Ours is still open and usable.
      f.write("still mine")
      f.flush
      c.execute("remove-fd", "fdset-id": info["fdset-id"])
    end
    assert_equal [], fdsets(c)
  end

  def test_execute_with_fds
    c = connect
    r, w = IO.pipe
    res = c.execute("add-fd", { "fdset-id" => 7 }, fds: [r])
    assert_equal 7, res["fdset-id"]
    assert_equal [7], fdsets(c).map { |s| s["fdset-id"] }
    refute r.closed?
    w.write("x")
    assert_equal "x", r.read_nonblock(1)
  ensure
    r&.close
    w&.close
  end

  def test_getfd_closefd
    c = connect
    r, w = IO.pipe
    c.getfd(w, "mypipe")
    c.closefd("mypipe")
    e = assert_raises(LibQMP::CommandError) { c.closefd("mypipe") }
    assert_equal "GenericError", e.error_class
    w.write("y")
    assert_equal "y", r.read_nonblock(1)
  ensure
    r&.close
    w&.close
  end

  def test_too_many_fds
    c = connect
    ios = Array.new(LibQMP::MAX_FDS + 1) { File.open(File::NULL) }
    assert_raises(LibQMP::InvalidArgument) { c.execute("query-status", fds: ios) }
    assert_raises(ArgumentError) { c.execute("query-status", fds: ["nope"]) }
  ensure
    ios&.each(&:close)
  end
end
