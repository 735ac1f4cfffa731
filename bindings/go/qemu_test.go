package qmp_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"libqmp.org/qmp"
)

// bg is the context of the calls that no context bounds.
var bg = context.Background()

// The tests' QEMU: qemu-system-x86_64 -M none (QEMU_SYSTEM names another),
// one per test, in the test's temporary directory.  Without it the tests
// fail, unless LIBQMP_QEMU_OPTIONAL=1 (then they skip).

type qemu struct {
	t    *testing.T
	dir  string
	sock string
	cmd  *exec.Cmd
}

func qemuBinary(t *testing.T) string {
	name := os.Getenv("QEMU_SYSTEM")
	if name == "" {
		name = "qemu-system-x86_64"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("LIBQMP_QEMU_OPTIONAL") == "1" {
			t.Skipf("%s not found: skipped (LIBQMP_QEMU_OPTIONAL=1)", name)
		}
		t.Fatalf("%s not found: install it (scripts/setup.sh), set QEMU_SYSTEM, "+
			"or set LIBQMP_QEMU_OPTIONAL=1 to skip", name)
	}
	return path
}

// startQEMUWith starts QEMU with its QMP monitor at qmpSpec ("" : a Unix socket in the temp dir).
func startQEMUWith(t *testing.T, qmpSpec string) *qemu {
	t.Helper()
	bin := qemuBinary(t)
	q := &qemu{t: t, dir: t.TempDir()}
	q.sock = filepath.Join(q.dir, "qmp.sock")
	if qmpSpec == "" {
		qmpSpec = "unix:" + q.sock + ",server=on,wait=off"
	}
	log, err := os.Create(filepath.Join(q.dir, "qemu.log"))
	if err != nil {
		t.Fatal(err)
	}
	q.cmd = exec.Command(bin, "-M", "none", "-nodefaults", "-display", "none", "-qmp", qmpSpec)
	q.cmd.Dir = q.dir
	q.cmd.Stdout, q.cmd.Stderr = log, log
	// QEMU must not outlive a test binary that is killed (go test -timeout).
	q.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := q.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		q.cmd.Process.Signal(syscall.SIGCONT)
		q.cmd.Process.Kill()
		q.cmd.Wait()
		log.Close()
		if t.Failed() {
			if out, err := os.ReadFile(filepath.Join(q.dir, "qemu.log")); err == nil && len(out) > 0 {
				t.Logf("qemu.log:\n%s", out)
			}
		}
	})
	return q
}

func startQEMU(t *testing.T) *qemu { return startQEMUWith(t, "") }

func (q *qemu) signal(sig syscall.Signal) {
	if err := q.cmd.Process.Signal(sig); err != nil {
		q.t.Fatal(err)
	}
}

// dial connects to q's Unix socket; the client is closed when the test ends.
func (q *qemu) dial(opts ...qmp.Option) *qmp.Client {
	q.t.Helper()
	c, err := qmp.DialUnix(bg, q.sock, append([]qmp.Option{qmp.WithTimeout(30 * time.Second)}, opts...)...) // QEMU may start slowly under load
	if err != nil {
		q.t.Fatalf("DialUnix: %v", err)
	}
	q.t.Cleanup(func() { c.Close() })
	return c
}

// within fails the test unless fn returns within d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: not done within %v", what, d)
	}
}
