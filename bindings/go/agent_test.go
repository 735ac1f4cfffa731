package qmp_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"libqmp.org/qmp"
)

// The guest agent against a real qemu-ga.  qemu-ga run here acts on this
// machine, so every instance gets -b with the whole list of blocked
// commands, read at test time from tests/agent/qga.h (QGA_BLOCKED_RPCS);
// guest-exec runs only /bin/echo, /bin/cat, /bin/false, /bin/sh -c 'exit 3'
// and /bin/sh -c 'sleep 3'; files live only in the test's temporary
// directory.

var mustBlock = []string{
	"guest-shutdown", "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid",
	"guest-set-time", "guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list", "guest-fsfreeze-thaw",
	"guest-fstrim", "guest-set-user-password", "guest-set-vcpus", "guest-set-memory-blocks",
	"guest-ssh-add-authorized-keys", "guest-ssh-remove-authorized-keys",
}

// blockedRPCs is QGA_BLOCKED_RPCS of tests/agent/qga.h, its literals joined.
func blockedRPCs(t *testing.T) string {
	t.Helper()
	path := os.Getenv("LIBQMP_QGA_H")
	if path == "" {
		t.Fatal("LIBQMP_QGA_H (tests/agent/qga.h) is not set")
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`#define QGA_BLOCKED_RPCS((?:[^\n]*\\\n)*[^\n]*)`).FindSubmatch(text)
	if m == nil {
		t.Fatalf("%s: no QGA_BLOCKED_RPCS", path)
	}
	var sb strings.Builder
	for _, lit := range regexp.MustCompile(`"([^"]*)"`).FindAllSubmatch(m[1], -1) {
		sb.Write(lit[1])
	}
	value := sb.String()
	have := map[string]bool{}
	for _, n := range strings.Split(value, ",") {
		have[n] = true
	}
	for _, n := range mustBlock {
		if !have[n] {
			t.Fatalf("%s: QGA_BLOCKED_RPCS lacks %s", path, n)
		}
	}
	return value
}

type agent struct {
	t         *testing.T
	dir, sock string
	cmd       *exec.Cmd
}

func (a *agent) signal(sig syscall.Signal) {
	if err := a.cmd.Process.Signal(sig); err != nil {
		a.t.Fatal(err)
	}
}

// startAgent runs qemu-ga -m unix-listen (always with -b) in t's private
// directory; it is stopped by pid when the test ends.
func startAgent(t *testing.T) *agent {
	t.Helper()
	dir := t.TempDir()
	a := &agent{t: t, dir: dir, sock: filepath.Join(dir, "qga.sock")}
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("QEMU_GA")
	if bin == "" {
		bin = "qemu-ga"
	}
	cmd := exec.Command(bin, "-m", "unix-listen", "-p", a.sock, "-t", state, "-f", filepath.Join(dir, "qga.pid"),
		"-l", filepath.Join(dir, "qga.log"), "-b", blockedRPCs(t))
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu-ga: %v (is qemu-guest-agent installed?)", err)
	}
	a.cmd = cmd
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT) // a test may have stopped it
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Log("qemu-ga still running 10 s after SIGTERM: killed")
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(a.sock); err == nil {
			return a
		}
		select {
		case <-exited:
			t.Fatal("qemu-ga exited before creating its socket")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("qemu-ga did not create %s within 10 s", a.sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dialAgent(t *testing.T, a *agent) *qmp.Client {
	t.Helper()
	c, err := qmp.DialAgentUnix(bg, a.sock, qmp.WithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestAgentPingAndCommands(t *testing.T) {
	c := dialAgent(t, startAgent(t))
	if !c.IsAgent() {
		t.Fatal("IsAgent: false on an agent connection")
	}
	if ok, err := c.AgentPing(bg); !ok || err != nil {
		t.Fatalf("AgentPing: %v, %v", ok, err)
	}
	names, version, err := c.AgentCommands(bg)
	if err != nil {
		t.Fatal(err)
	}
	if version == "" {
		t.Fatal("AgentCommands: empty version")
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	if !have["guest-exec"] || !have["guest-info"] {
		t.Fatalf("AgentCommands: guest-exec or guest-info missing from %v", names)
	}
	for _, n := range strings.Split(blockedRPCs(t), ",") {
		if have[n] {
			t.Fatalf("AgentCommands: the blocked %s is enabled", n)
		}
	}
	var info map[string]any
	if err := c.ExecuteInto(bg, &info, "guest-info", nil); err != nil || info["version"] == nil {
		t.Fatalf("Execute guest-info: %v %v", info, err)
	}
}

func TestAgentExec(t *testing.T) {
	a := startAgent(t)
	c := dialAgent(t, a)
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	r, err := c.AgentExec(ctx, []string{"/bin/echo", "hello"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 0 || r.Signal != 0 || !r.Success() || string(r.Stdout) != "hello\n" || len(r.Stderr) != 0 ||
		r.StdoutTruncated || r.PID <= 0 {
		t.Fatalf("echo: %+v", r)
	}
	in := append(bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000), "end"...)
	if r, err = c.AgentExec(ctx, []string{"/bin/cat"}, in, nil); err != nil || !bytes.Equal(r.Stdout, in) {
		t.Fatalf("cat: %v, %d bytes out of %d", err, len(r.Stdout), len(in))
	}
	if r, err = c.AgentExec(ctx, []string{"/bin/false"}, nil, nil); err != nil || r.ExitCode != 1 || r.Success() {
		t.Fatalf("false: %+v, %v", r, err)
	}
	if r, err = c.AgentExec(ctx, []string{"/bin/sh", "-c", "exit 3"}, nil, nil); err != nil || r.ExitCode != 3 {
		t.Fatalf("exit 3: %+v, %v", r, err)
	}
	r, err = c.AgentExecCheck(ctx, []string{"/bin/sh", "-c", "exit 3"}, nil, nil)
	var ee *qmp.ExitError
	if !errors.As(err, &ee) || ee.Result.ExitCode != 3 || !strings.Contains(err.Error(), "status 3") {
		t.Fatalf("AgentExecCheck exit 3: %v", err)
	}
	if _, err = c.AgentExecCheck(ctx, []string{"/bin/echo"}, nil, nil); err != nil {
		t.Fatalf("AgentExecCheck echo: %v", err)
	}
	var ce *qmp.CommandError
	if _, err = c.AgentExec(ctx, []string{filepath.Join(a.dir, "no-such-program")}, nil, nil); !errors.As(err, &ce) {
		t.Fatalf("missing program: %v (%T), want a *CommandError", err, err)
	}
	if _, err = c.AgentExec(ctx, nil, nil, nil); !errors.Is(err, qmp.ErrInvalid) {
		t.Fatalf("empty argv: %v, want ErrInvalid", err)
	}
}

func TestAgentFiles(t *testing.T) {
	a := startAgent(t)
	c := dialAgent(t, a)
	path := filepath.Join(a.dir, "f.bin")
	data := make([]byte, 180*1024)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := c.AgentFileWrite(bg, path, data); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the file as written: %v, %d bytes", err, len(got))
	}
	if got, err := c.AgentFileRead(bg, path, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("AgentFileRead: %v, %d bytes", err, len(got))
	}
	var e *qmp.Error
	if _, err := c.AgentFileRead(bg, path, 100); !errors.As(err, &e) || e.Code != qmp.CodeTooBig {
		t.Fatalf("AgentFileRead beyond maxBytes: %v, want CodeTooBig", err)
	}
	var ce *qmp.CommandError
	if _, err := c.AgentFileRead(bg, filepath.Join(a.dir, "missing"), 0); !errors.As(err, &ce) {
		t.Fatalf("missing file: %v, want a *CommandError", err)
	}
	if err := c.AgentFileWrite(bg, filepath.Join(a.dir, "no-dir", "f"), []byte("x")); !errors.As(err, &ce) {
		t.Fatalf("write to a missing directory: %v, want a *CommandError", err)
	}
	if ok, err := c.AgentPing(bg); !ok || err != nil {
		t.Fatalf("AgentPing after the errors: %v, %v", ok, err)
	}
}

func TestAgentSilentSocketTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silent.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t0 := time.Now()
	_, err = qmp.DialAgentUnix(bg, path, qmp.WithTimeout(500*time.Millisecond))
	elapsed := time.Since(t0)
	if !errors.Is(err, qmp.ErrTimeout) || !strings.Contains(err.Error(), "agent") {
		t.Fatalf("DialAgentUnix on a silent socket: %v, want ErrTimeout naming the agent", err)
	}
	if elapsed < 400*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("DialAgentUnix gave up after %v, want about 0.5 s", elapsed)
	}
	// ctx's deadline bounds it too
	ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
	defer cancel()
	if _, err = qmp.DialAgentUnix(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DialAgentUnix under a deadline: %v, want context.DeadlineExceeded", err)
	}
}

// A cancelled AgentExec of a program that runs for 3 s returns at once and
// leaves nothing waiting: its naps between guest-exec-status polls end with
// the cancel, not with the program.  The Client stays usable (the late
// replies are dropped, the channel synchronised again).  With qemu-ga
// stopped, a cancelled AgentPing, AgentCommands, AgentFileRead,
// AgentFileWrite or DialAgentUnix ends the same way.
func TestCancelledAgentCallsLeaveNothingBehind(t *testing.T) {
	a := startAgent(t)
	c := dialAgent(t, a)
	if ok, err := c.AgentPing(bg); !ok || err != nil {
		t.Fatalf("AgentPing: %v, %v", ok, err)
	}
	baseline := runtime.NumGoroutine()
	start := time.Now()
	cancelledAfter(t, "guest-exec", 300*time.Millisecond, func(ctx context.Context) error {
		_, err := c.AgentExec(ctx, []string{"/bin/sh", "-c", "sleep 3"}, nil, nil)
		return err
	})
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the cancelled AgentExec of sleep 3 was done only %v after its start", d)
	}
	r, err := c.AgentExec(bg, []string{"/bin/echo", "after"}, nil, nil, qmp.WithTimeout(10*time.Second))
	if err != nil || string(r.Stdout) != "after\n" {
		t.Fatalf("AgentExec after the cancelled one: %+v, %v", r, err)
	}

	a.signal(syscall.SIGSTOP)
	path := filepath.Join(a.dir, "f")
	calls := []struct {
		command string
		call    func(ctx context.Context) error
	}{
		{"guest-ping", func(ctx context.Context) error { _, err := c.AgentPing(ctx); return err }},
		{"guest-info", func(ctx context.Context) error { _, _, err := c.AgentCommands(ctx); return err }},
		{"guest-file-read", func(ctx context.Context) error { _, err := c.AgentFileRead(ctx, path, 0); return err }},
		{"guest-file-write", func(ctx context.Context) error { return c.AgentFileWrite(ctx, path, []byte("x")) }},
		{"", func(ctx context.Context) error { _, err := qmp.DialAgentUnix(ctx, a.sock); return err }},
	}
	for _, k := range calls {
		cancelledAfter(t, k.command, 50*time.Millisecond, k.call)
	}
	a.signal(syscall.SIGCONT)
	if ok, err := c.AgentPing(bg); !ok || err != nil {
		t.Fatalf("AgentPing after the cancelled calls: %v, %v", ok, err)
	}
	if err := c.AgentFileWrite(bg, path, []byte("data")); err != nil {
		t.Fatalf("AgentFileWrite after the cancelled calls: %v", err)
	}
	if got, err := c.AgentFileRead(bg, path, 0); err != nil || string(got) != "data" {
		t.Fatalf("AgentFileRead after the cancelled calls: %q, %v", got, err)
	}
	goroutinesBackTo(t, baseline)
}
