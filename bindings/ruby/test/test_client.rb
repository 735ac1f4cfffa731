#!/usr/bin/ruby
# Connecting, executing, errors, HMP and transactions against real QEMU.
require "socket"
require "qemu_helper"

class TestClient < Minitest::Test
  include QemuHelper

  def test_version
    assert_match(/\A\d+\.\d+\.\d+/, LibQMP::VERSION)
  end

  def test_open_block_closes
    client = nil
    status = LibQMP::Client.open(@qemu.sock, timeout: 5) do |c|
      client = c
      assert c.connected?
      c.execute("query-status")
    end
    assert_kind_of Hash, status
    assert_includes %w[running prelaunch paused], status["status"]
    assert client.closed?
    assert_raises(LibQMP::ConnectionClosed) { client.execute("query-status") }
  end

  def test_execute_returns_ruby_values
    c = connect
    assert_equal "QMP", c.greeting.keys.first
    assert_kind_of Hash, c.execute("query-version")["qemu"]
    commands = c.execute("query-commands")
    assert_kind_of Array, commands
    assert(commands.any? { |cmd| cmd["name"] == "query-status" })
  end

  def test_execute_keyword_arguments
    c = connect
    assert_equal({}, c.execute("blockdev-add", driver: "null-co", "node-name": "n0"))
    nodes = c.execute("query-named-block-nodes")
    assert(nodes.any? { |n| n["node-name"] == "n0" && n["drv"] == "null-co" })
    # A Hash argument, and a mix of both.
    c.execute("blockdev-add", { "driver" => "null-co" }, "node-name": "n1")
    c.execute("blockdev-del", { "node-name" => "n0" })
    names = c.execute("query-named-block-nodes").map { |n| n["node-name"] }
    assert_equal ["n1"], names
  end

  def test_command_error
    c = connect
    e = assert_raises(LibQMP::CommandError) { c.execute("no-such-command") }
    assert_equal "CommandNotFound", e.error_class
    assert_match(/no-such-command/, e.desc)
    assert_equal LibQMP::ECOMMAND, e.code
    assert_kind_of LibQMP::Error, e
    e = assert_raises(LibQMP::CommandError) { c.execute("blockdev-add", driver: "no-such-driver") }
    assert_equal "GenericError", e.error_class
    # The connection is still fine.
    assert_kind_of Hash, c.execute("query-status")
  end

  def test_from_io_leaves_the_io_to_the_caller
    sock = UNIXSocket.new(@qemu.sock)
    c = LibQMP::Client.from_io(sock, timeout: 5)
    @clients << c
    assert_kind_of Hash, c.execute("query-status")
    refute_equal sock.fileno, c.fileno
    c.close
    refute sock.closed?
    sock.close
  end

  def test_connect_failure
    e = assert_raises(LibQMP::Error) do
      LibQMP::Client.connect_unix(File.join(@qemu.dir, "nothing-here"), timeout: 1)
    end
    # A missing socket is retried until the timeout.
    assert_kind_of LibQMP::TimeoutError, e
    assert_equal LibQMP::ETIMEDOUT, e.code
  end

  def test_hmp
    c = connect
    out = c.hmp("info version")
    assert_match(/\d+\.\d+/, out)
    assert_kind_of String, out
  end

  def test_transaction
    c = connect
    c.execute("blockdev-add", driver: "null-co", "node-name": "n0")
    c.transaction do |t|
      t.add("block-dirty-bitmap-add", node: "n0", name: "b0")
      t.add("block-dirty-bitmap-add", node: "n0", name: "b1", persistent: false)
    end
    node = c.execute("query-named-block-nodes").find { |n| n["node-name"] == "n0" }
    assert_equal %w[b0 b1], (node["dirty-bitmaps"] || []).map { |b| b["name"] }.sort
    # All or nothing: b0 exists, so neither action happens.
    assert_raises(LibQMP::CommandError) do
      c.transaction([{ "type" => "block-dirty-bitmap-add", "data" => { "node" => "n0", "name" => "b2" } },
                     { "type" => "block-dirty-bitmap-add", "data" => { "node" => "n0", "name" => "b0" } }])
    end
    node = c.execute("query-named-block-nodes").find { |n| n["node-name"] == "n0" }
    assert_equal %w[b0 b1], node["dirty-bitmaps"].map { |b| b["name"] }.sort
  end

  def test_oob
    c = connect(oob: true)
    assert c.capability?("oob")
    assert_kind_of Hash, c.execute("query-status", oob: false)
    # QEMU allows out of band only commands marked so: query-yank is one,
    # query-status is not.
    assert_kind_of Array, c.execute("query-yank", oob: true)
    e = assert_raises(LibQMP::CommandError) { c.execute("query-status", oob: true) }
    assert_equal "GenericError", e.error_class
  end

  def test_close_is_idempotent
    c = connect
    c.close
    c.close
    assert c.closed?
    refute c.connected?
  end
end
