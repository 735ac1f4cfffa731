package qmp_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"libqmp.org/qmp"
)

// exampleQEMU starts qemu-system-x86_64 -M none (QEMU_SYSTEM names
// another) with its QMP monitor on a Unix socket in a new temporary
// directory, and returns the socket's path and a func that stops QEMU.
func exampleQEMU() (sock string, stop func()) {
	bin := os.Getenv("QEMU_SYSTEM")
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	dir, err := os.MkdirTemp("", "libqmp-example-")
	if err != nil {
		log.Fatal(err)
	}
	sock = filepath.Join(dir, "qmp.sock")
	cmd := exec.Command(bin, "-M", "none", "-nodefaults", "-display", "none",
		"-qmp", "unix:"+sock+",server=on,wait=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Fatalf("%s: %v (scripts/setup.sh installs QEMU)", bin, err)
	}
	return sock, func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}
}

func ExampleDialUnix() {
	sock, stop := exampleQEMU()
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := qmp.DialUnix(ctx, sock) // retried until QEMU has made the socket
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var st struct{ Status string }
	if err := c.ExecuteInto(ctx, &st, "query-status", nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Status)
	// Output: running
}

func ExampleClient_Execute() {
	sock, stop := exampleQEMU()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := qmp.DialUnix(ctx, sock)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Arguments as a map; the "return" value as QEMU sent it.
	ret, err := c.Execute(ctx, "qom-get", map[string]any{"path": "/machine", "property": "type"})
	fmt.Println(string(ret), err)
	// QEMU's error is a *CommandError.
	_, err = c.Execute(ctx, "no-such-command", nil)
	var ce *qmp.CommandError
	if errors.As(err, &ce) {
		fmt.Println(ce.Class)
	}
	// Output:
	// "none-machine" <nil>
	// CommandNotFound
}

func ExampleClient_WaitEvent() {
	sock, stop := exampleQEMU()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := qmp.DialUnix(ctx, sock)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// The sequence number taken before the command: the event counts even
	// if it arrives before WaitEvent is called.
	seq := c.EventSeq()
	if _, err := c.Execute(ctx, "stop", nil); err != nil {
		log.Fatal(err)
	}
	ev, err := c.WaitEvent(ctx, "STOP", nil, seq)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Name, ev.Seq > seq)
	// Output: STOP true
}

func ExampleClient_Transaction() {
	sock, stop := exampleQEMU()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := qmp.DialUnix(ctx, sock)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// An action without data is sent with "data": {}.
	err = c.Transaction(ctx, []qmp.Action{{Type: "abort"}})
	var ce *qmp.CommandError
	if errors.As(err, &ce) {
		fmt.Println(ce.Desc)
	}
	// Output: Transaction aborted using Abort action
}

func ExampleContextError() {
	sock, stop := exampleQEMU()
	defer stop()
	c, err := qmp.DialUnix(context.Background(), sock, qmp.WithTimeout(30*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A context whose deadline passes before the answer: a wait for an
	// event that never comes.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.WaitEvent(ctx, "NEVER", nil, c.EventSeq())
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(err, qmp.ErrTimeout))

	// A cancelled context: the command is not sent; the error names it.
	done, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	_, err = c.Execute(done, "stop", nil)
	fmt.Println(err)

	// The Client stays usable.
	var st struct{ Status string }
	err = c.ExecuteInto(context.Background(), &st, "query-status", nil)
	fmt.Println(st.Status, err)
	// Output:
	// true true
	// qmp: stop: context canceled
	// running <nil>
}

func ExampleClient_HMP() {
	sock, stop := exampleQEMU()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := qmp.DialUnix(ctx, sock)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// ctx bounds it; WithTimeout bounds this call alone.
	out, err := c.HMP(ctx, "info status", qmp.WithTimeout(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.TrimSpace(out))
	// Output: VM status: running
}
