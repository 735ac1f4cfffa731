#!/usr/bin/ruby
# How arguments become the command on the wire, and bad arguments refused
# before anything is sent: the client talks to a fake QMP server (a Ruby
# thread on the other end of a socketpair) that records every line it gets.
require "json"
require "socket"
require "minitest/autorun"
require "libqmp"

class TestArguments < Minitest::Test
  GREETING = { "QMP" => { "version" => { "qemu" => { "major" => 7, "minor" => 2, "micro" => 0 }, "package" => "" },
                          "capabilities" => [] } }.freeze

  def setup
    ours, theirs = UNIXSocket.pair
    @received = Queue.new
    @server = Thread.new do
      theirs.puts(JSON.generate(GREETING))
      each_message(theirs) do |msg|
        @received << msg
        reply = { "return" => {} }
        reply["id"] = msg["id"] if msg.key?("id")
        theirs.puts(JSON.generate(reply))
      end
    ensure
      theirs.close
    end
    @c = LibQMP::Client.from_io(ours, timeout: 5)
    ours.close
    assert_equal "qmp_capabilities", @received.pop["execute"]
  end

  # Yields each JSON object read from io (QMP needs no newline between them).
  def each_message(io)
    buf = +""
    loop do
      buf << io.readpartial(65_536)
      while (n = object_end(buf))
        yield JSON.parse(buf.slice!(0, n))
      end
    end
  rescue EOFError, IOError
    nil
  end

  # The length of the first whole object in buf, or nil.
  def object_end(buf)
    depth = 0
    in_string = escaped = false
    buf.each_char.with_index do |ch, i|
      if in_string
        if escaped then escaped = false
        elsif ch == "\\" then escaped = true
        elsif ch == '"' then in_string = false
        end
      elsif ch == '"' then in_string = true
      elsif ch == "{" then depth += 1
      elsif ch == "}"
        depth -= 1
        return i + 1 if depth.zero?
      end
    end
    nil
  end

  def teardown
    @c.close
    @server.join(5)
  end

  # What the server got for the next command.
  def sent
    msg = @received.pop
    msg.delete("id")
    msg
  end

  def test_keyword_underscores_become_dashes
    @c.execute("blockdev-add", driver: "null-co", node_name: "n0", read_only: true)
    assert_equal({ "execute" => "blockdev-add",
                   "arguments" => { "driver" => "null-co", "node-name" => "n0", "read-only" => true } }, sent)
  end

  def test_hash_keys_are_sent_as_written
    @c.execute("block_set_io_throttle", { "bps_rd" => 1, iops_wr: 2 }, id: "d0")
    assert_equal({ "execute" => "block_set_io_throttle",
                   "arguments" => { "bps_rd" => 1, "iops_wr" => 2, "id" => "d0" } }, sent)
    # Quoted keywords with dashes are unchanged; nested Hashes are left alone.
    @c.execute("x", "node-name": "n0", file: { "aio_x" => 1 })
    assert_equal({ "execute" => "x", "arguments" => { "node-name" => "n0", "file" => { "aio_x" => 1 } } }, sent)
  end

  def test_transaction_actions_use_the_same_rule
    @c.transaction do |t|
      t.add("block-dirty-bitmap-add", node: "n0", name: "b0", disabled_x: false)
      t.add("abort")
    end
    assert_equal({ "execute" => "transaction",
                   "arguments" => { "actions" => [
                     { "type" => "block-dirty-bitmap-add", "data" => { "node" => "n0", "name" => "b0", "disabled-x" => false } },
                     { "type" => "abort", "data" => {} }
                   ] } }, sent)
  end

  def test_bad_arguments_raise_before_anything_is_sent
    assert_raises(TypeError) { @c.execute(nil) }
    assert_raises(TypeError) { @c.execute(42) }
    assert_raises(ArgumentError) { @c.execute("") }
    assert_raises(TypeError) { @c.execute("x", "not a hash") }
    assert_raises(TypeError) { @c.execute("x", [1, 2]) }
    assert_raises(TypeError) { @c.execute("x", { 1 => 2 }) }
    assert_raises(ArgumentError) { @c.execute("x", value: Float::NAN) }
    assert_raises(ArgumentError) { @c.execute("x", value: Float::INFINITY) }
    assert_raises(ArgumentError) { @c.execute("x", timeout: -1) }
    assert_raises(ArgumentError) { @c.execute("x", timeout: "soon") }
    assert_raises(ArgumentError) { @c.execute("x", fds: ["not an fd"]) }
    assert_raises(ArgumentError) { @c.execute("x", fds: [-3]) }
    assert_raises(TypeError) { @c.execute_json(nil) }
    assert_raises(TypeError) { @c.hmp(nil) }
    assert_raises(TypeError) { @c.getfd($stdin, nil) }
    assert_raises(TypeError) { @c.closefd(nil) }
    assert_raises(TypeError) { @c.transaction("abort") }
    assert_raises(TypeError) { @c.transaction { |t| t.add(nil) } }
    # Nothing reached the server: the next command is the first it sees.
    @c.execute("query-status")
    assert_equal({ "execute" => "query-status" }, sent)
    assert @received.empty?
  end

  def test_a_single_io_is_one_fd
    r, w = IO.pipe
    w.puts "a line the fd list must not read"
    @c.execute("getfd", { "fdname" => "f" }, fds: r)
    assert_equal({ "execute" => "getfd", "arguments" => { "fdname" => "f" } }, sent)
    assert_equal "a line the fd list must not read\n", r.gets
  ensure
    r&.close
    w&.close
  end
end
