#!/usr/bin/ruby
# The schema against real QEMU and offline: schema_has?, validation on the
# client and per call, LibQMP::Schema from QEMU and from saved JSON.
require "json"
require "qemu_helper"

class TestSchema < Minitest::Test
  include QemuHelper

  IO_URING = "blockdev-add/arg-type/+file/aio/^io_uring"
  BAD_AIO = "blockdev-add: arguments.file.aio: 'io_urin' is not one of threads, native, io_uring"
  DEPRECATED = "drive-backup: command 'drive-backup' is deprecated"

  # tests/data of the source tree: $LIBQMP_TEST_DATA (meson sets it), or
  # found from this file's place in the tree.
  def self.test_data(*parts)
    base = ENV.fetch("LIBQMP_TEST_DATA", "")
    base = File.expand_path("../../../tests/data", __dir__) if base.empty?
    File.join(base, *parts)
  end

  def bad_blockdev(node = "q0")
    { "driver" => "qcow2", "node-name" => node,
      "file" => { "driver" => "file", "filename" => "/dev/null", "aio" => "io_urin" } }
  end

  def drive_backup
    { "execute" => "drive-backup",
      "arguments" => { "device" => "d0", "target" => "/nonexistent/backup.img", "sync" => "full" } }
  end

  def node_names(c) = c.execute("query-named-block-nodes").map { |n| n["node-name"] }

  def test_schema_has
    c = connect
    assert_equal true, c.schema_has?(IO_URING)
    assert_equal true, c.schema_has(IO_URING)
    assert_equal false, c.schema_has?("blockdev-add/arg-type/+file/aio/^io_urin")
    assert_equal false, c.schema_has?("no-such-command")
    assert c.schema_has?("x-debug-query-block-graph/$unstable")
    refute c.schema_has?("query-cpus-fast/$unstable")
    e = assert_raises(LibQMP::InvalidArgument) { c.schema_has?("blockdev-add//aio") }
    assert_match(/malformed/, e.message)
    assert_equal LibQMP::EINVAL, e.code
    assert_raises(LibQMP::InvalidArgument) { c.schema_has?("") }
    assert_equal "running", c.execute("query-status")["status"]
    c.close
    assert_raises(LibQMP::ConnectionClosed) { c.schema_has?(IO_URING) }
  end

  def test_validation_refuses_before_sending
    c = connect
    assert_equal 0, c.validation
    c.validation = LibQMP::VALIDATE
    assert_equal LibQMP::VALIDATE, c.validation
    e = assert_raises(LibQMP::InvalidArgument) { c.execute("blockdev-add", bad_blockdev) }
    assert_equal BAD_AIO, e.message
    assert_equal LibQMP::EINVAL, e.code
    # QEMU never saw it: no node, and the client goes on.
    assert_equal "running", c.execute("query-status")["status"]
    refute_includes node_names(c), "q0"
    assert_equal({}, c.execute("blockdev-add", driver: "null-co", "node-name": "n0"))
    e = assert_raises(LibQMP::InvalidArgument) { c.execute("blockdev-add", driver: "null-co", "node-nam": "n1") }
    assert_match(/did you mean 'node-name'/, e.message)
  end

  def test_per_call_override
    c = connect(validation: true)
    assert_equal LibQMP::VALIDATE, c.validation
    # Off for one call: QEMU's own error.
    e = assert_raises(LibQMP::CommandError) { c.execute("blockdev-add", bad_blockdev, validate: false) }
    assert_equal "GenericError", e.error_class
    assert_match(/io_urin/, e.desc)
    # The client's setting is unchanged.
    assert_raises(LibQMP::InvalidArgument) { c.execute("blockdev-add", bad_blockdev) }
    c.validation = false
    assert_equal 0, c.validation
    assert_raises(LibQMP::CommandError) { c.execute("blockdev-add", bad_blockdev) }
    # On for one call, on a client that does not validate.
    e = assert_raises(LibQMP::InvalidArgument) { c.execute("blockdev-add", bad_blockdev, validate: true) }
    assert_equal BAD_AIO, e.message
    assert_raises(LibQMP::InvalidArgument) do
      c.execute_json('{"execute": "blockdev-add", "arguments": {"driver": "null-co", "x": 1}}',
                     validate: LibQMP::VALIDATE)
    end
    assert_raises(LibQMP::InvalidArgument) { c.execute("query-status", validate: "yes") }
    assert_equal "running", c.execute("query-status")["status"]
  end

  def test_deny_deprecated
    c = connect
    c.set_validation(deny_deprecated: true)
    assert_equal LibQMP::VALIDATE | LibQMP::DENY_DEPRECATED, c.validation
    e = assert_raises(LibQMP::InvalidArgument) { c.execute_json(JSON.generate(drive_backup)) }
    assert_equal "#{DEPRECATED} (refused by QMP_VALIDATE_DENY_DEPRECATED)", e.message
    # Plain validation lets it through (a warning only): QEMU answers.
    e = assert_raises(LibQMP::CommandError) do
      c.execute("drive-backup", drive_backup["arguments"], validate: LibQMP::VALIDATE)
    end
    assert_equal "GenericError", e.error_class
    c.validation = LibQMP::VALIDATE | LibQMP::DENY_UNSTABLE
    e = assert_raises(LibQMP::InvalidArgument) { c.execute("x-debug-query-block-graph") }
    assert_match(/unstable/, e.message)
    assert_raises(LibQMP::InvalidArgument) { c.validation = -5 }
    assert_equal LibQMP::VALIDATE | LibQMP::DENY_UNSTABLE, c.validation
  end

  def test_schema_object
    c = connect
    s = c.schema
    assert s.has?(IO_URING)
    assert s.include?(IO_URING)
    refute s.has?("blockdev-add/arg-type/+file/aio/^io_urin")
    assert_raises(LibQMP::InvalidArgument) { s.has?("blockdev-add//aio") }
    commands = s.commands
    assert_includes commands, "query-status"
    assert_includes commands, "blockdev-add"
    assert_equal commands.sort, commands
    assert_includes s.events, "STOP"
    refute_includes commands, "STOP"
    # The Schema outlives the client.
    c.close
    assert s.has?("query-status")
    args = s.arguments("drive-backup").to_h { |a| [a["name"], a] }
    assert_equal "enum", args["sync"]["type"]
    assert_equal false, args["sync"]["optional"]
    assert_includes args["sync"]["values"], "full"
    assert_equal true, args["job-id"]["optional"]
    assert_equal "str", args["job-id"]["type"]
    d = s.describe("query-status")
    assert_equal "query-status", d["name"]
    assert_equal "command", d["meta-type"]
    assert_equal "object", d["returns"]["type"]
    assert_includes d["returns"]["members"].map { |m| m["name"] }, "status"
    assert_raises(LibQMP::InvalidArgument) { s.arguments("no-such-command") }
    assert_raises(LibQMP::InvalidArgument) { s.describe("no-such-thing") }
    refute s.closed?
    s.close
    assert s.closed?
    e = assert_raises(LibQMP::InvalidArgument) { s.has?("query-status") }
    assert_match(/closed/, e.message)
    s.close # twice: a no-op
  end

  def test_schema_validate
    s = connect.schema(timeout: 30)
    assert_equal [], s.validate("query-status")
    assert_equal [DEPRECATED], s.validate(drive_backup)
    e = assert_raises(LibQMP::InvalidArgument) { s.validate(drive_backup, deny_deprecated: true) }
    assert_match(/deprecated/, e.message)
    assert_raises(LibQMP::InvalidArgument) { s.validate(drive_backup, flags: LibQMP::DENY_DEPRECATED) }
    e = assert_raises(LibQMP::InvalidArgument) { s.validate("blockdev-add", bad_blockdev) }
    assert_equal BAD_AIO, e.message
    assert_equal [], s.validate("blockdev-add", driver: "null-co", "node-name": "n0")
    assert_equal 1, s.validate("x-debug-query-block-graph").size
    assert_raises(LibQMP::InvalidArgument) { s.validate("x-debug-query-block-graph", deny_unstable: true) }
    e = assert_raises(LibQMP::InvalidArgument) { s.validate("no-such-command") }
    assert_match(/no-such-command/, e.message)
  end
end

# No QEMU needed: the schema captured from QEMU 7.2.
class TestSchemaOffline < Minitest::Test
  def saved_json = File.read(TestSchema.test_data("qemu-7.2", "query-qmp-schema.json"))

  def test_parse_saved_json
    text = saved_json
    s = LibQMP::Schema.parse(text)
    assert s.has?(TestSchema::IO_URING)
    refute s.has?("blockdev-add/arg-type/+file/aio/^io_urin")
    assert s.has?("x-debug-query-block-graph/$unstable")
    assert_includes s.commands, "blockdev-add"
    assert_includes s.events, "STOP"
    e = assert_raises(LibQMP::InvalidArgument) do
      s.validate("blockdev-add", "driver" => "qcow2", "node-name" => "q0",
                                 "file" => { "driver" => "file", "filename" => "/dev/null", "aio" => "io_urin" })
    end
    assert_equal TestSchema::BAD_AIO, e.message
    assert_equal [TestSchema::DEPRECATED],
                 s.validate("drive-backup", device: "d0", target: "/nonexistent", sync: "full")
    # The parsed value works too.
    assert LibQMP::Schema.parse(JSON.parse(text)).has?("query-status")
    s.close
  end

  def test_invalid_json
    assert_raises(LibQMP::InvalidArgument) { LibQMP::Schema.parse("not json") }
    e = assert_raises(LibQMP::InvalidArgument) { LibQMP::Schema.parse('[{"name": "x"}]') }
    assert_match(/'x'/, e.message)
    assert_raises(NoMethodError) { LibQMP::Schema.new }
  end
end
