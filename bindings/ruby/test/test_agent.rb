#!/usr/bin/ruby
# The guest agent in Ruby: LibQMP::Client.open_agent and the agent_*
# helpers against a real qemu-ga, and an agent that never answers.
#
# qemu-ga run here acts on this machine, so every instance gets -b with the
# whole list of blocked commands, read at test time from tests/agent/qga.h
# (QGA_BLOCKED_RPCS); guest-exec runs only /bin/echo, /bin/cat, /bin/false,
# /bin/sh -c 'exit 3', /bin/sh -c 'sleep 3' and a shell line that appends
# to a file in the private temporary directory and sleeps; files live only
# in that directory.
require "fileutils"
require "socket"
require "timeout"
require "tmpdir"
require "minitest/autorun"
require "libqmp"

class TestAgent < Minitest::Test
  MUST_BLOCK = %w[guest-shutdown guest-suspend-disk guest-suspend-ram guest-suspend-hybrid guest-set-time
                  guest-fsfreeze-freeze guest-fsfreeze-freeze-list guest-fsfreeze-thaw guest-fstrim
                  guest-set-user-password guest-set-vcpus guest-set-memory-blocks
                  guest-ssh-add-authorized-keys guest-ssh-remove-authorized-keys].freeze

  # QGA_BLOCKED_RPCS of tests/agent/qga.h: its string literals joined.
  def self.blocked_rpcs
    path = ENV.fetch("LIBQMP_QGA_H") { File.expand_path("../../../tests/agent/qga.h", __dir__) }
    m = File.read(path).match(/#define QGA_BLOCKED_RPCS((?:[^\n]*\\\n)*[^\n]*)/) or raise "#{path}: no QGA_BLOCKED_RPCS"
    value = m[1].scan(/"([^"]*)"/).join
    missing = MUST_BLOCK - value.split(",")
    raise "#{path}: QGA_BLOCKED_RPCS lacks #{missing.join(", ")}" unless missing.empty?

    value
  end

  def setup
    @dir = Dir.mktmpdir("libqmp-rb-qga-")
    @sock = File.join(@dir, "qga.sock")
    state = File.join(@dir, "state")
    Dir.mkdir(state, 0o700)
    binary = ENV.fetch("QEMU_GA", "").empty? ? "qemu-ga" : ENV["QEMU_GA"]
    # -b: every command that changes the machine is blocked.
    @pid = Process.spawn(binary, "-m", "unix-listen", "-p", @sock, "-t", state, "-f", File.join(@dir, "qga.pid"),
                         "-l", File.join(@dir, "qga.log"), "-b", self.class.blocked_rpcs)
    deadline = Time.now + 10
    until File.exist?(@sock)
      raise "qemu-ga exited before creating its socket" if Process.waitpid(@pid, Process::WNOHANG)
      raise "qemu-ga did not create #{@sock} within 10 s" if Time.now > deadline

      sleep 0.02
    end
  end

  # qemu-ga 7.2 sometimes hangs in its SIGTERM handler (a futex, for good):
  # SIGKILL after 5 s, as the C, Python and Go harnesses do.
  def teardown
    if @pid
      begin
        Process.kill("TERM", @pid)
        deadline = now + 5
        sleep 0.02 until Process.waitpid(@pid, Process::WNOHANG) || now > deadline
        if now > deadline && !Process.waitpid(@pid, Process::WNOHANG)
          warn "qemu-ga ignored SIGTERM for 5 s: SIGKILL"
          Process.kill("KILL", @pid)
          Process.waitpid(@pid)
        end
      rescue Errno::ESRCH, Errno::ECHILD
        nil
      end
    end
    FileUtils.rm_rf(@dir)
  end

  def path(name) = File.join(@dir, name)

  def test_open_agent_yields_an_agent_client
    value = LibQMP::Client.open_agent(@sock, timeout: 30) do |c|
      assert c.agent?
      assert c.agent_ping
      assert_includes c.execute("guest-info"), "version"
      :done
    end
    assert_equal :done, value
  end

  def test_commands_leave_out_every_blocked_command
    LibQMP::Client.open_agent(@sock, timeout: 30) do |c|
      names, version = c.agent_commands
      assert_includes names, "guest-exec"
      refute_empty version
      self.class.blocked_rpcs.split(",").each { |n| refute_includes names, n }
    end
  end

  def test_exec_returns_binary_output
    LibQMP::Client.open_agent(@sock, timeout: 30) do |c|
      r = c.agent_exec(["/bin/echo", "hello"], timeout: 10)
      assert_equal 0, r.exit_code
      assert r.success?
      assert_equal "hello\n", r.stdout
      assert_equal "", r.stderr
      refute r.stdout_truncated
      data = (0..255).map(&:chr).join.b * 8
      r = c.agent_exec(["/bin/cat"], input: data, timeout: 10)
      assert_equal data, r.stdout
      assert_equal Encoding::BINARY, r.stdout.encoding
    end
  end

  def test_exec_raises_on_nonzero_exit_only_when_asked
    LibQMP::Client.open_agent(@sock, timeout: 30) do |c|
      assert_equal 1, c.agent_exec(["/bin/false"], timeout: 10).exit_code
      assert_equal 3, c.agent_exec(["/bin/sh", "-c", "exit 3"], timeout: 10).exit_code
      e = assert_raises(LibQMP::ExecError) { c.agent_exec(["/bin/sh", "-c", "exit 3"], timeout: 10, check: true) }
      assert_equal 3, e.result.exit_code
      assert_match(/status 3/, e.message)
      assert c.agent_exec(["/bin/echo"], timeout: 10, check: true).success?
      assert_raises(LibQMP::CommandError) { c.agent_exec([path("no-such-program")], timeout: 10) }
      assert_raises(LibQMP::InvalidArgument) { c.agent_exec([], timeout: 10) }
    end
  end

  def test_files_beyond_one_chunk_and_errors
    LibQMP::Client.open_agent(@sock, timeout: 30) do |c|
      data = Random.new(7).bytes(150 * 1024) + "\0end".b
      c.agent_file_write(path("f.bin"), data)
      assert_equal data, File.binread(path("f.bin"))
      assert_equal data, c.agent_file_read(path("f.bin"))
      assert_raises(LibQMP::MessageTooBig) { c.agent_file_read(path("f.bin"), max_bytes: 100) }
      assert_raises(LibQMP::CommandError) { c.agent_file_read(path("missing")) }
      assert_raises(LibQMP::CommandError) { c.agent_file_write(path("no-dir/f"), "x") }
      assert c.agent_ping
    end
  end

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Interrupting a program's run (guest-exec, then guest-exec-status with
  # naps between) ends agent_exec well under a second after the interrupt;
  # the program goes on in the guest (the agent cannot stop it), the client
  # stays usable (the channel is synchronised again) and no thread is left.
  def test_interrupts_end_agent_exec
    LibQMP::Client.open_agent(@sock, timeout: 30) do |c|
      sleeper = ["/bin/sh", "-c", "sleep 3"]
      t = Thread.new { c.agent_exec(sleeper, timeout: 30) }
      t.report_on_exception = false
      sleep 0.01 until t.status == "sleep" || !t.alive?
      sleep 0.3 # guest-exec has started the program; the helper polls its status
      t0 = now
      t.kill
      assert t.join(1.0), "Thread#kill did not end agent_exec within 1 s"
      assert_operator now - t0, :<, 1.0
      threads = Thread.list.size
      t0 = now
      assert_raises(Timeout::Error) { Timeout.timeout(0.3) { c.agent_exec(sleeper, timeout: 30) } }
      assert_operator now - t0, :<, 1.3, "Timeout.timeout did not end agent_exec within 1 s"
      assert_equal threads, Thread.list.size
      assert c.agent_ping
      r = c.agent_exec(["/bin/echo", "still here"], timeout: 10)
      assert_equal "still here\n", r.stdout
    end
  end

  # A trap handler that interrupts agent_exec: the program may be running
  # already, so the call raises Cancelled rather than start it again.
  def test_trap_handler_ends_agent_exec_without_running_it_again
    runs = path("runs")
    LibQMP::Client.open_agent(@sock, timeout: 30) do |c|
      trapped = false
      old = trap("USR1") { trapped = true }
      # Only once the program has started (its first act writes the file):
      # the call is then waiting in C, however slow the machine.
      signaller = Thread.new do
        deadline = now + 20
        sleep 0.01 until File.exist?(runs) || now > deadline
        sleep 0.1
        sent = now
        Process.kill(:USR1, Process.pid)
        sent
      end
      begin
        e = assert_raises(LibQMP::Cancelled) do
          c.agent_exec(["/bin/sh", "-c", "echo run >> '#{runs}'; sleep 3"], timeout: 30)
        end
        raised = now
        assert_equal LibQMP::ECANCELLED, e.code
      ensure
        signaller.join
        trap("USR1", old)
      end
      assert trapped
      assert_operator raised - signaller.value, :<, 1.0
      assert c.agent_ping
      sleep 0.3
      assert_equal "run\n", File.read(runs), "the program ran again"
    end
  end

  def test_silent_socket_times_out_naming_the_agent_and_releases_the_gvl
    silent = path("silent.sock")
    server = UNIXServer.new(silent)
    ticks = 0
    spinner = Thread.new { loop { ticks += 1; sleep 0.001 } }
    sleep 0.05
    before = ticks
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    e = assert_raises(LibQMP::TimeoutError) { LibQMP::Client.open_agent(silent, timeout: 0.6) }
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
    during = ticks - before
    spinner.kill
    spinner.join
    assert_match(/agent/, e.message)
    assert_operator elapsed, :>=, 0.5
    # the GVL held for the 0.6 s wait would stop the spinner altogether
    assert_operator during, :>, 50
  ensure
    server&.close
  end
end
