# The Ruby tests' QEMU: qemu-system-x86_64 -M none, one per test, in a
# private temporary directory.  QEMU_SYSTEM names another binary.  Without
# QEMU a test program fails, unless LIBQMP_QEMU_OPTIONAL=1 (then it exits
# 77: skipped).
require "fileutils"
require "io/wait"
require "socket"
require "tmpdir"
require "libqmp"

module QemuHelper
  def self.binary
    name = ENV.fetch("QEMU_SYSTEM", "").empty? ? "qemu-system-x86_64" : ENV["QEMU_SYSTEM"]
    return name if name.include?("/") && File.executable?(name)

    ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |d| File.join(d, name) }
       .find { |p| File.file?(p) && File.executable?(p) }
  end

  unless binary
    if ENV["LIBQMP_QEMU_OPTIONAL"] == "1"
      puts "qemu-system-x86_64 not found: skipped (LIBQMP_QEMU_OPTIONAL=1)"
      exit 77
    end
    warn "qemu-system-x86_64 not found: install it (scripts/setup.sh), set QEMU_SYSTEM, " \
         "or set LIBQMP_QEMU_OPTIONAL=1 to skip"
    exit 1
  end

  class Qemu
    attr_reader :dir, :sock, :pid

    def initialize
      @dir = Dir.mktmpdir("libqmp-rb-")
      @sock = File.join(@dir, "qmp.sock")
      # exec: the pid is QEMU's own, for the signals the tests send.
      @pid = Process.spawn(QemuHelper.binary, "-M", "none", "-nodefaults", "-display", "none",
                           "-qmp", "unix:#{@sock},server=on,wait=off",
                           in: File::NULL, out: File.join(@dir, "qemu.log"), err: %i[child out],
                           chdir: @dir)
      wait_until_started
    end

    # QEMU listens before it has started the VM, and sends the RESUME of that
    # start to a client that is connected but not yet greeted: the greeting
    # would not come first.  A probe connection that sees the greeting
    # proves the start is over (the greeting comes from the main loop).
    def wait_until_started
      deadline = Time.now + 10
      until Time.now > deadline || exited?
        begin
          UNIXSocket.open(@sock) do |s|
            return if s.wait_readable(5) && s.gets.to_s.include?('"QMP"')
          end
        rescue Errno::ENOENT, Errno::ECONNREFUSED, Errno::ECONNRESET, Errno::EPIPE
          nil
        end
        sleep 0.02
      end
      raise "QEMU did not start: #{File.read(File.join(@dir, "qemu.log")) rescue "(no log)"}"
    end

    def exited?
      return true if @status

      _, @status = Process.waitpid2(@pid, Process::WNOHANG)
      !@status.nil?
    end

    def signal(sig) = Process.kill(sig, @pid)

    # Idempotent.
    def stop
      unless exited?
        Process.kill(:KILL, @pid) rescue Errno::ESRCH
        _, @status = Process.waitpid2(@pid)
      end
      FileUtils.rm_rf(@dir)
    end
  end

  # Each test gets its own QEMU (@qemu) and connect() a client to it.
  def setup
    super
    @qemu = Qemu.new
    @clients = []
  end

  def teardown
    @clients.each(&:close)
    @qemu.stop
    super
  end

  def connect(**settings)
    c = LibQMP::Client.connect_unix(@qemu.sock, timeout: 30, **settings) # QEMU may start slowly under load
    @clients << c
    c
  end
end

# QEMU must not outlive a test program that is killed (meson's timeout).
at_exit { ObjectSpace.each_object(QemuHelper::Qemu, &:stop) }

require "minitest/autorun"
