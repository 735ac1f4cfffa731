package qmp_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"libqmp.org/qmp"
)

func TestTimeout(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	q.signal(syscall.SIGSTOP)
	start := time.Now()
	_, err := c.Execute(bg, "query-status", nil, qmp.WithTimeout(300*time.Millisecond))
	elapsed := time.Since(start)
	if !errors.Is(err, qmp.ErrTimeout) {
		t.Fatalf("Execute on a stopped QEMU: %v (%T), want ErrTimeout", err, err)
	}
	var e *qmp.Error
	if !errors.As(err, &e) || e.Code != qmp.CodeTimedOut || errors.Is(err, qmp.ErrClosed) {
		t.Fatalf("timeout error %#v", err)
	}
	if elapsed < 250*time.Millisecond || elapsed > 10*time.Second { // generous: CI machines are loaded
		t.Fatalf("the 300 ms timeout took %v", elapsed)
	}
	q.signal(syscall.SIGCONT)
	// The late answer to the timed-out command is not taken for this one's:
	// another command, whose reply has "qemu" and no "status".
	var v map[string]any
	if err := c.ExecuteInto(bg, &v, "query-version", nil, qmp.WithTimeout(10*time.Second)); err != nil || v["qemu"] == nil || v["status"] != nil {
		t.Fatalf("query-version after SIGCONT: %v, %v", v, err)
	}
	var st struct{ Status string }
	if err := c.ExecuteInto(bg, &st, "query-status", nil); err != nil || st.Status != "running" {
		t.Fatalf("query-status after SIGCONT: %+v, %v", st, err)
	}
}

func TestQEMUKilledMidCall(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	events := c.Events("")
	q.signal(syscall.SIGSTOP)
	done := make(chan error, 1)
	go func() {
		_, err := c.Execute(bg, "query-status", nil, qmp.WithTimeout(20*time.Second))
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	q.signal(syscall.SIGKILL)
	select {
	case err := <-done:
		if !errors.Is(err, qmp.ErrClosed) {
			t.Fatalf("Execute when QEMU died: %v (%T), want ErrClosed", err, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Execute did not end when QEMU died")
	}
	if _, err := c.Execute(bg, "query-status", nil); !errors.Is(err, qmp.ErrClosed) {
		t.Fatalf("Execute after QEMU died: %v, want ErrClosed", err)
	}
	if c.Connected() {
		t.Fatal("Connected after QEMU died")
	}
	within(t, 5*time.Second, "event channel closed when the peer hung up", func() {
		for range events {
		}
	})
}

func TestCloseEndsBlockedCalls(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	c.OnEvent("", func(qmp.Event) {}) // the pump is in C too
	q.signal(syscall.SIGSTOP)
	done := make(chan error, 2)
	go func() {
		_, err := c.Execute(bg, "query-status", nil, qmp.WithTimeout(-1))
		done <- err
	}()
	go func() {
		_, err := c.WaitEvent(bg, "NEVER", nil, c.EventSeq(), qmp.WithTimeout(-1))
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	within(t, 5*time.Second, "Close", func() { c.Close() })
	for i := 0; i < 2; i++ {
		select {
		case err := <-done:
			if !errors.Is(err, qmp.ErrClosed) {
				t.Fatalf("a call pending at Close: %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a call pending at Close did not end")
		}
	}
}
