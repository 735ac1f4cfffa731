package goqemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	gqmp "github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qemu"
	"libqmp.org/qmp"
	"libqmp.org/qmp/goqemu"
)

// domain starts QEMU -M none and returns a go-qemu Domain over libqmp.
func domain(t *testing.T) (*qemu.Domain, *goqemu.Monitor, *exec.Cmd) {
	t.Helper()
	bin := os.Getenv("QEMU_SYSTEM")
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("%s not found: scripts/setup.sh installs it", bin)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "qmp.sock")
	cmd := exec.Command(bin, "-M", "none", "-nodefaults", "-display", "none",
		"-qmp", "unix:"+sock+",server=on,wait=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	m := goqemu.NewUnixMonitor(sock, qmp.WithTimeout(30*time.Second))
	if err := m.Connect(); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	d, err := qemu.NewDomain(m, "vm0")
	if err != nil {
		t.Fatalf("NewDomain: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d, m, cmd
}

func TestDomainQueries(t *testing.T) {
	d, m, _ := domain(t)
	var v struct {
		QEMU    struct{ Major, Minor, Micro int }
		Package string
	}
	if err := m.Client().ExecuteInto(context.Background(), &v, "query-version", nil); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d.%d.%d", v.QEMU.Major, v.QEMU.Minor, v.QEMU.Micro)
	if got, err := d.Version(); err != nil || got != want {
		t.Fatalf("Version: %q, %v, want %q", got, err, want)
	}
	if got, err := d.PackageVersion(); err != nil || got != v.Package {
		t.Fatalf("PackageVersion: %q, %v, want %q", got, err, v.Package)
	}
	if st, err := d.Status(); err != nil || st != qemu.StatusRunning {
		t.Fatalf("Status: %v, %v", st, err)
	}
	cmds, err := d.Commands()
	if err != nil || len(cmds) < 100 {
		t.Fatalf("Commands: %d, %v", len(cmds), err)
	}
	if ok, err := d.Supported("query-status"); err != nil || !ok {
		t.Fatalf("Supported(query-status): %v, %v", ok, err)
	}
	if ok, err := d.Supported("no-such-command"); err != nil || ok {
		t.Fatalf("Supported(no-such-command): %v, %v", ok, err)
	}
	// -M none has no disks and no block jobs.
	if bd, err := d.BlockDevices(); err != nil || len(bd) != 0 {
		t.Fatalf("BlockDevices: %v, %v", bd, err)
	}
	if jobs, err := d.BlockJobs(); err != nil || len(jobs) != 0 {
		t.Fatalf("BlockJobs: %v, %v", jobs, err)
	}
	if st, err := d.BlockStats(); err != nil || len(st) != 0 {
		t.Fatalf("BlockStats: %v, %v", st, err)
	}
	if _, err := d.BlockDevice("nope"); err == nil {
		t.Fatal("BlockDevice of a missing device succeeded")
	}
}

func TestDomainEventsAndCommands(t *testing.T) {
	d, _, _ := domain(t)
	events, done, err := d.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer close(done)
	if _, err := d.Run(gqmp.Command{Execute: "stop"}); err != nil {
		t.Fatal(err)
	}
	if st, err := d.Status(); err != nil || st != qemu.StatusPaused {
		t.Fatalf("Status after stop: %v, %v", st, err)
	}
	if err := d.SystemReset(); err != nil {
		t.Fatalf("SystemReset: %v", err)
	}
	want := []string{"STOP", "RESET"}
	timeout := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("the event channel closed")
			}
			if e.Event == want[0] {
				want = want[1:]
			}
		case <-timeout:
			t.Fatalf("events %v did not come", want)
		}
	}
	// QEMU's error, with its class.
	_, err = d.Run(gqmp.Command{Execute: "no-such-command"})
	var ce *qmp.CommandError
	if !errors.As(err, &ce) || ce.Class != "CommandNotFound" {
		t.Fatalf("Run(no-such-command): %v", err)
	}
}

func TestRunLargeReplyAndConcurrency(t *testing.T) {
	d, _, _ := domain(t)
	// query-qmp-schema's reply is some 150 KiB: over the 64 KiB go-qemu's
	// own monitor reads.
	out, err := d.Run(gqmp.Command{Execute: "query-qmp-schema"})
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Return []map[string]any }
	if err := json.Unmarshal(out, &r); err != nil || len(r.Return) < 100 {
		t.Fatalf("query-qmp-schema: %d entries, %v", len(r.Return), err)
	}
	if len(out) <= 64*1024 {
		t.Fatalf("query-qmp-schema is only %d bytes: not a test of large replies", len(out))
	}
	// Several Run calls at once, each with its own reply.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if st, err := d.Status(); err != nil || st != qemu.StatusRunning {
				errs <- errors.New("Status: " + st.String())
			}
		}()
		go func() {
			defer wg.Done()
			if v, err := d.Version(); err != nil || v == "" {
				errs <- errors.New("Version: " + v)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRunTimeoutAndDisconnect(t *testing.T) {
	d, m, cmd := domain(t)
	m.WithRunTimeout(300 * time.Millisecond)
	// A command QEMU answers: fine within the timeout.
	if _, err := d.Status(); err != nil {
		t.Fatal(err)
	}
	// One it does not (stopped): the Run timeout ends the wait.
	cmd.Process.Signal(syscall.SIGSTOP)
	start := time.Now()
	_, err := d.Status()
	if elapsed := time.Since(start); !errors.Is(err, qmp.ErrTimeout) || elapsed < 250*time.Millisecond || elapsed > 10*time.Second {
		t.Fatalf("Status on a stopped QEMU: %v after %v, want ErrTimeout after 300 ms", err, elapsed)
	}
	cmd.Process.Signal(syscall.SIGCONT)
	if st, err := d.Status(); err != nil || st != qemu.StatusRunning {
		t.Fatalf("Status after SIGCONT: %v, %v", st, err)
	}
	if err := d.Close(); err != nil { // go-qemu's Close disconnects the monitor
		t.Fatalf("Close: %v", err)
	}
	if m.Client() != nil {
		t.Fatal("the Client is still there after Disconnect")
	}
	if _, err := m.Run([]byte(`{"execute": "query-status"}`)); err == nil {
		t.Fatal("Run after Disconnect succeeded")
	}
}
