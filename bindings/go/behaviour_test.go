package qmp_test

// One test per row of the behaviour table in bindings/README.md (the same
// rows as the Python and Ruby bindings' behaviour tests), against QEMU.

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"libqmp.org/qmp"
)

func TestBehaviourTimeoutsPerCallAndDefault(t *testing.T) {
	q := startQEMU(t)
	waitForSocket(t, q.sock)
	c, err := qmp.DialUnix(bg, q.sock, qmp.WithTimeout(30*time.Second), qmp.WithDefaultTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q.signal(syscall.SIGSTOP)
	defer q.signal(syscall.SIGCONT)
	start := time.Now()
	_, err = c.Execute(bg, "query-status", nil)
	if d := time.Since(start); !errors.Is(err, qmp.ErrTimeout) || d < 250*time.Millisecond || d >= 900*time.Millisecond {
		t.Fatalf("Execute under the 300 ms default: %v after %v", err, d)
	}
	start = time.Now()
	_, err = c.Execute(bg, "query-status", nil, qmp.WithTimeout(time.Second))
	if d := time.Since(start); !errors.Is(err, qmp.ErrTimeout) || d < 900*time.Millisecond || d >= 5*time.Second {
		t.Fatalf("Execute WithTimeout(1s) over the default: %v after %v", err, d)
	}
}

func TestBehaviourCancellation(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	q.signal(syscall.SIGSTOP)
	defer q.signal(syscall.SIGCONT)
	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Execute(ctx, "query-status", nil, qmp.WithTimeout(time.Minute))
	var ce *qmp.ContextError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &ce) || ce.Command != "query-status" {
		t.Fatalf("Execute under a cancelled context: %v (%T)", err, err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("the cancelled Execute returned after %v", d)
	}
	dctx, cancelD := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancelD()
	if _, err := c.Execute(dctx, "query-status", nil); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, qmp.ErrTimeout) {
		t.Fatalf("Execute past its context's deadline: %v", err)
	}
	// Any call that waits: a dial to a socket that is not there yet too.
	lctx, cancelL := context.WithCancel(bg)
	time.AfterFunc(200*time.Millisecond, cancelL)
	start = time.Now()
	if _, err := qmp.DialUnix(lctx, filepath.Join(t.TempDir(), "later.sock")); !errors.Is(err, context.Canceled) || !errors.As(err, &ce) {
		t.Fatalf("DialUnix under a cancelled context: %v (%T)", err, err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("the cancelled DialUnix returned after %v", d)
	}
	// The client stays usable: the late replies are dropped.
	q.signal(syscall.SIGCONT)
	var st struct{ Status string }
	if err := c.ExecuteInto(bg, &st, "query-status", nil); err != nil || st.Status != "running" {
		t.Fatalf("query-status after the cancelled calls: %+v, %v", st, err)
	}
}

func TestBehaviourTransactionActionWithoutDataSendsEmptyData(t *testing.T) {
	c := startQEMU(t).dial()
	for _, a := range []qmp.Action{{Type: "abort"}, {Type: "abort", Data: map[string]any{}}} {
		err := c.Transaction(bg, []qmp.Action{a})
		var ce *qmp.CommandError
		if !errors.As(err, &ce) || !strings.Contains(ce.Desc, "Abort action") {
			t.Fatalf("Transaction(%+v): %v, want QEMU's abort action's error", a, err)
		}
	}
	if err := c.Transaction(bg, nil); err != nil {
		t.Fatalf("Transaction(nil): %v", err)
	}
}

func TestBehaviourFDArguments(t *testing.T) {
	c := startQEMU(t).dial()
	f, err := os.CreateTemp(t.TempDir(), "behaviour")
	if err != nil {
		t.Fatal(err)
	}
	if added, err := c.AddFD(bg, f, qmp.NewFDSet, "file"); err != nil || added.FD < 0 {
		t.Fatalf("AddFD(*os.File): %+v, %v", added, err)
	}
	f.Close()
	for what, err := range map[string]error{
		"GetFD(nil)":              c.GetFD(bg, nil, "x"),
		"GetFD(closed file)":      c.GetFD(bg, f, "x"),
		"Execute(WithFiles(nil))": func() error { _, err := c.Execute(bg, "add-fd", nil, qmp.WithFiles(nil)); return err }(),
		"AddFD(closed file)":      func() error { _, err := c.AddFD(bg, f, qmp.NewFDSet, ""); return err }(),
	} {
		var e *qmp.Error
		if !errors.Is(err, qmp.ErrInvalid) || !errors.As(err, &e) || e.Code != qmp.CodeInvalid {
			t.Errorf("%s: %v (%T), want an *Error matching ErrInvalid", what, err, err)
		}
	}
	var st map[string]any
	if err := c.ExecuteInto(bg, &st, "query-status", nil); err != nil || st["status"] != "running" {
		t.Fatalf("query-status after the refused calls: %v, %v", st, err)
	}
}

func TestBehaviourKeySpelling(t *testing.T) {
	c := startQEMU(t).dial()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	// A map's keys and a struct's json tags are sent as written.
	var added qmp.AddedFD
	if err := c.ExecuteInto(bg, &added, "add-fd", map[string]any{"fdset-id": 5}, qmp.WithFiles(r)); err != nil || added.FDSetID != 5 {
		t.Fatalf("add-fd with map key fdset-id: %+v, %v", added, err)
	}
	args := struct {
		FDSetID int `json:"fdset-id"`
	}{6}
	if err := c.ExecuteInto(bg, &added, "add-fd", args, qmp.WithFiles(r)); err != nil || added.FDSetID != 6 {
		t.Fatalf("add-fd with a struct tagged fdset-id: %+v, %v", added, err)
	}
	_, err = c.Execute(bg, "add-fd", map[string]any{"fdset_id": 7}, qmp.WithFiles(r))
	var ce *qmp.CommandError
	if !errors.As(err, &ce) || !strings.Contains(ce.Desc, "fdset_id") {
		t.Fatalf("add-fd with map key fdset_id: %v, want QEMU's refusal of fdset_id", err)
	}
}

func TestBehaviourErrorTypesAndQMPClass(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	for name, args := range map[string]any{
		"no-such-command": nil,
		"qom-get":         map[string]any{"path": "/nowhere", "property": "x"},
	} {
		want := map[string]string{"no-such-command": "CommandNotFound", "qom-get": "DeviceNotFound"}[name]
		_, err := c.Execute(bg, name, args)
		var ce *qmp.CommandError
		if !errors.As(err, &ce) || ce.Class != want || ce.Command != name {
			t.Fatalf("%s: %v, want a *CommandError of class %s", name, err, want)
		}
	}
	if _, err := c.Execute(bg, "qom-set", map[string]any{"path": "/machine", "property": "x", "value": math.NaN()}); !errors.Is(err, qmp.ErrInvalid) {
		t.Fatalf("NaN argument: %v, want ErrInvalid", err)
	}
	if _, err := c.Execute(bg, "", nil); !errors.Is(err, qmp.ErrInvalid) {
		t.Fatalf("empty command name: %v, want ErrInvalid", err)
	}
	c.Close()
	if _, err := c.Execute(bg, "query-status", nil); !errors.Is(err, qmp.ErrClosed) {
		t.Fatalf("Execute after Close: %v, want ErrClosed", err)
	}
}

func TestBehaviourEventsHandlerIteratorAndWaitWithSeq(t *testing.T) {
	c := startQEMU(t).dial()
	handled := make(chan qmp.Event, 10)
	stopHandler := c.OnEvent("STOP", func(e qmp.Event) { handled <- e })
	defer stopHandler()
	ch := c.Events("RESUME")
	seq := c.EventSeq()
	for _, cmd := range []string{"stop", "cont"} {
		if _, err := c.Execute(bg, cmd, nil); err != nil {
			t.Fatal(err)
		}
	}
	// the wait from seq sees the events that arrived before it
	stop, err := c.WaitEvent(bg, "STOP", nil, seq, qmp.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	resume, err := c.WaitEvent(bg, "RESUME", nil, stop.Seq, qmp.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !(seq < stop.Seq && stop.Seq < resume.Seq && resume.Seq <= c.EventSeq()) {
		t.Fatalf("seqs: before %d, STOP %d, RESUME %d, now %d", seq, stop.Seq, resume.Seq, c.EventSeq())
	}
	if _, err := c.WaitEvent(bg, "RESUME", nil, resume.Seq, qmp.WithTimeout(300*time.Millisecond)); !errors.Is(err, qmp.ErrTimeout) {
		t.Fatalf("WaitEvent after the RESUME's seq: %v, want ErrTimeout", err)
	}
	for name, got := range map[string]<-chan qmp.Event{"STOP": handled, "RESUME": ch} {
		want := map[string]uint64{"STOP": stop.Seq, "RESUME": resume.Seq}[name]
		select {
		case e := <-got:
			if e.Name != name || e.Seq != want {
				t.Fatalf("got %s seq %d, want %s seq %d", e.Name, e.Seq, name, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s from the handler/channel", name)
		}
	}
}
