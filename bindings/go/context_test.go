package qmp_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"libqmp.org/qmp"
)

// promptly is how soon after its context ends a call must return: well
// under the shim's 100 ms slices, with room for a loaded machine.
const promptly = 80 * time.Millisecond

// cancelAfter cancels a context d from now and reports when it did.
func cancelAfter(d time.Duration) (context.Context, <-chan time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	at := make(chan time.Time, 1)
	time.AfterFunc(d, func() { at <- time.Now(); cancel() })
	return ctx, at
}

// checkCtxErr checks that err is ctx's error for command.
func checkCtxErr(t *testing.T, err error, want error, command string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v (%T), want %v", command, err, err, want)
	}
	var ce *qmp.ContextError
	if !errors.As(err, &ce) || ce.Command != command || !strings.Contains(err.Error(), command) {
		t.Fatalf("%s: error %q (%#v) does not name the command", command, err, err)
	}
}

// afterSIGCONT checks that the client answers the next command with its
// own reply once QEMU runs again: the late reply of the abandoned
// query-status (which has "status") is not taken for query-version's.
func afterSIGCONT(t *testing.T, q *qemu, c *qmp.Client) {
	t.Helper()
	q.signal(syscall.SIGCONT)
	var v map[string]any
	if err := c.ExecuteInto(bg, &v, "query-version", nil, qmp.WithTimeout(10*time.Second)); err != nil || v["qemu"] == nil || v["status"] != nil {
		t.Fatalf("query-version after the cancelled call: %v, %v", v, err)
	}
}

func TestContextCancelEndsExecute(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	q.signal(syscall.SIGSTOP)
	ctx, at := cancelAfter(200 * time.Millisecond)
	_, err := c.Execute(ctx, "query-status", nil) // the default timeout is 30 s
	end := time.Now()
	checkCtxErr(t, err, context.Canceled, "query-status")
	late := end.Sub(<-at)
	t.Logf("Execute returned %v after the cancel", late)
	if late > promptly {
		t.Fatalf("Execute returned %v after the cancel", late)
	}
	afterSIGCONT(t, q, c)
}

func TestContextDeadlineEndsExecute(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	q.signal(syscall.SIGSTOP)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var st map[string]any
	err := c.ExecuteInto(ctx, &st, "query-status", nil, qmp.WithTimeout(20*time.Second))
	end := time.Now()
	checkCtxErr(t, err, context.DeadlineExceeded, "query-status")
	if !errors.Is(err, qmp.ErrTimeout) || errors.Is(err, context.Canceled) {
		t.Fatalf("deadline error %v: want ErrTimeout too, not Canceled", err)
	}
	t.Logf("Execute returned %v after the deadline", end.Sub(deadline))
	if end.Before(deadline) || end.Sub(deadline) > promptly {
		t.Fatalf("Execute returned %v after the deadline", end.Sub(deadline))
	}
	afterSIGCONT(t, q, c)
}

func TestContextDoneBeforeCall(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := c.EventSeq()
	_, err := c.Execute(ctx, "stop", nil)
	checkCtxErr(t, err, context.Canceled, "stop")
	// Not sent: QEMU still runs and sent no STOP.
	var st struct{ Status string }
	if err := c.ExecuteInto(bg, &st, "query-status", nil); err != nil || st.Status != "running" {
		t.Fatalf("query-status after a cancelled stop: %+v, %v", st, err)
	}
	if c.EventSeq() != before {
		t.Fatalf("events after a stop that was not sent: %d, was %d", c.EventSeq(), before)
	}
}

func TestContextEndsWaitEvent(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	baseline := runtime.NumGoroutine()
	ctx, at := cancelAfter(200 * time.Millisecond)
	_, err := c.WaitEvent(ctx, "NEVER", nil, c.EventSeq(), qmp.WithTimeout(-1))
	end := time.Now()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitEvent: %v, want context.Canceled", err)
	}
	late := end.Sub(<-at)
	t.Logf("WaitEvent returned %v after the cancel", late)
	if late > promptly {
		t.Fatalf("WaitEvent returned %v after the cancel", late)
	}
	// Nothing is left waiting: the C wait ended with the cancel, and the
	// goroutine that cancelled it with the call.
	goroutinesBackTo(t, baseline)
	// Still usable, for commands and for waits.
	seq := c.EventSeq()
	if _, err := c.Execute(bg, "stop", nil); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e, err := c.WaitEvent(wctx, "STOP", nil, seq); err != nil || e.Name != "STOP" {
		t.Fatalf("WaitEvent after a cancelled one: %+v, %v", e, err)
	}
}

func TestContextEndsHMPAndSchema(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	q.signal(syscall.SIGSTOP)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.HMP(ctx, "info status")
	checkCtxErr(t, err, context.DeadlineExceeded, "human-monitor-command")
	// HMP's own timeout.
	start := time.Now()
	if _, err := c.HMP(bg, "info status", qmp.WithTimeout(200*time.Millisecond)); !errors.Is(err, qmp.ErrTimeout) || time.Since(start) > 10*time.Second {
		t.Fatalf("HMP with a 200 ms timeout: %v after %v", err, time.Since(start))
	}
	sctx, at := cancelAfter(200 * time.Millisecond)
	_, err = c.Schema(sctx)
	end := time.Now()
	checkCtxErr(t, err, context.Canceled, "query-qmp-schema")
	late := end.Sub(<-at)
	t.Logf("Schema returned %v after the cancel", late)
	if late > promptly {
		t.Fatalf("Schema returned %v after the cancel", late)
	}
	hctx, cancelH := context.WithCancel(context.Background())
	cancelH()
	_, err = c.SchemaHas(hctx, "query-status")
	checkCtxErr(t, err, context.Canceled, "query-qmp-schema")
	q.signal(syscall.SIGCONT)
	out, err := c.HMP(bg, "info status")
	if err != nil || !strings.Contains(out, "running") {
		t.Fatalf("HMP after SIGCONT: %q, %v", out, err)
	}
	if ok, err := c.SchemaHas(bg, "query-status"); err != nil || !ok {
		t.Fatalf("SchemaHas after SIGCONT: %v, %v", ok, err)
	}
}

func TestContextEndsDial(t *testing.T) {
	// A socket that never appears: DialUnix retries until its timeout.
	path := filepath.Join(t.TempDir(), "none.sock")
	ctx, at := cancelAfter(200 * time.Millisecond)
	_, err := qmp.DialUnix(ctx, path, qmp.WithTimeout(-1))
	end := time.Now()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("DialUnix: %v, want context.Canceled", err)
	}
	late := end.Sub(<-at)
	t.Logf("DialUnix returned %v after the cancel", late)
	if late > promptly {
		t.Fatalf("DialUnix returned %v after the cancel", late)
	}
	dctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := qmp.DialUnix(dctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DialUnix past its deadline: %v, want context.DeadlineExceeded", err)
	}
}

// waitForSocket waits until QEMU has created its socket, so that a Dial
// with a short timeout measures the dial, not QEMU's start.
func waitForSocket(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

func TestDialTimeoutBoundsTheDialOnly(t *testing.T) {
	q := startQEMU(t)
	waitForSocket(t, q.sock)
	c, err := qmp.DialUnix(bg, q.sock, qmp.WithTimeout(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q.signal(syscall.SIGSTOP)
	time.AfterFunc(2500*time.Millisecond, func() { q.cmd.Process.Signal(syscall.SIGCONT) })
	start := time.Now()
	var st struct{ Status string }
	if err := c.ExecuteInto(bg, &st, "query-status", nil); err != nil || st.Status != "running" {
		t.Fatalf("a call longer than the dial's timeout: %+v, %v after %v", st, err, time.Since(start))
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("QEMU answered while stopped? %v", d)
	}
}

func TestDefaultTimeout(t *testing.T) {
	q := startQEMU(t)
	waitForSocket(t, q.sock)
	c, err := qmp.DialUnix(bg, q.sock, qmp.WithTimeout(30*time.Second), qmp.WithDefaultTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q.signal(syscall.SIGSTOP)
	start := time.Now()
	_, err = c.Execute(bg, "query-status", nil)
	if d := time.Since(start); !errors.Is(err, qmp.ErrTimeout) || d < 250*time.Millisecond || d > 10*time.Second {
		t.Fatalf("Execute under a 300 ms default: %v after %v", err, d)
	}
	var e *qmp.ContextError
	if errors.As(err, &e) {
		t.Fatalf("a timeout without a context deadline is a ContextError: %v", err)
	}
	// WithTimeout still overrides the default for one call.
	time.AfterFunc(800*time.Millisecond, func() { q.cmd.Process.Signal(syscall.SIGCONT) })
	if _, err := c.Execute(bg, "query-status", nil, qmp.WithTimeout(20*time.Second)); err != nil {
		t.Fatalf("Execute with its own timeout over the default: %v", err)
	}
	if _, err := c.Execute(bg, "query-status", nil, qmp.WithDefaultTimeout(time.Second)); !errors.Is(err, qmp.ErrInvalid) {
		t.Fatalf("WithDefaultTimeout on Execute: %v, want ErrInvalid", err)
	}
}

func TestTransactionAbortSendsData(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	// QEMU 7.2 runs the abort action (and so fails the transaction with
	// its own message) only when it comes with "data": {}.
	err := c.Transaction(bg, []qmp.Action{{Type: "abort"}})
	var ce *qmp.CommandError
	if !errors.As(err, &ce) || ce.Command != "transaction" || !strings.Contains(ce.Desc, "Abort action") {
		t.Fatalf("Transaction(abort): %v, want QEMU's \"Transaction aborted using Abort action\"", err)
	}
	// An empty transaction succeeds.
	if err := c.Transaction(bg, nil); err != nil {
		t.Fatalf("Transaction(nil): %v", err)
	}
}

// goroutinesBackTo fails unless the goroutines are back to n within 100 ms
// (cancelAfter's timer goroutine ends right after its cancel).
func goroutinesBackTo(t *testing.T, n int) {
	t.Helper()
	goroutinesBackWithin(t, n, 100*time.Millisecond)
}

// goroutinesBackWithin fails unless the goroutines are back to n within d;
// it returns how long that took.  A goroutine still in a C call counts: so
// this also says that the C call has returned.
func goroutinesBackWithin(t *testing.T, n int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for runtime.NumGoroutine() > n {
		if time.Since(start) > d {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines %v after the cancel, %d before the call:\n%s",
				runtime.NumGoroutine(), d, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// openFDs is the number of this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// fdsBackWithin fails unless the open descriptors are back to n within d.
func fdsBackWithin(t *testing.T, n int, d time.Duration) {
	t.Helper()
	start := time.Now()
	for openFDs(t) > n {
		if time.Since(start) > d {
			t.Fatalf("%d open descriptors %v after the cancel, %d before the call", openFDs(t), d, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// cancelledAfter runs call under a context cancelled d after the start and
// checks that it returns that context's error naming command, within
// promptly of the cancel, and that the goroutines are back to their count
// before the call within a second (the C call ended too, not at its own
// timeout).  It returns both delays.
func cancelledAfter(t *testing.T, command string, d time.Duration, call func(ctx context.Context) error) (returned, cleared time.Duration) {
	t.Helper()
	baseline := runtime.NumGoroutine()
	ctx, at := cancelAfter(d)
	err := call(ctx)
	returned = time.Since(<-at)
	checkCtxErr(t, err, context.Canceled, command)
	if returned > promptly {
		t.Fatalf("%s returned %v after the cancel", command, returned)
	}
	cleared = returned + goroutinesBackWithin(t, baseline, time.Second)
	what := command
	if what == "" {
		what = "the dial"
	}
	t.Logf("%s: returned %v after the cancel, its goroutines gone after %v", what, returned, cleared)
	return returned, cleared
}

// A cancelled Execute leaves no goroutine and no C wait behind: the next
// call on the same client answers at once, cancelled ones too.
func TestCancelledCallsLeaveNothingBehind(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	if _, err := c.Execute(bg, "query-status", nil); err != nil {
		t.Fatal(err)
	}
	baseline := runtime.NumGoroutine()
	q.signal(syscall.SIGSTOP)
	var worst time.Duration
	for i := 0; i < 5; i++ {
		ctx, at := cancelAfter(50 * time.Millisecond)
		_, err := c.Execute(ctx, "query-status", nil)
		late := time.Since(<-at)
		checkCtxErr(t, err, context.Canceled, "query-status")
		if late > worst {
			worst = late
		}
	}
	t.Logf("5 cancelled Executes returned at most %v after their cancel", worst)
	if worst > promptly {
		t.Fatalf("a cancelled Execute returned %v after the cancel", worst)
	}
	goroutinesBackTo(t, baseline)
	q.signal(syscall.SIGCONT)
	start := time.Now()
	var v struct{ Status string }
	if err := c.ExecuteInto(bg, &v, "query-status", nil); err != nil || v.Status != "running" {
		t.Fatalf("query-status after the cancelled calls: %+v, %v", v, err)
	}
	t.Logf("the next call answered in %v", time.Since(start))
	goroutinesBackTo(t, baseline)
}

// A cancelled Dial ends its C connect too, whatever it waits for: a socket
// that does not exist yet (retried until the 30 s default timeout), or a
// peer that accepted (or left the connection in its backlog) and never
// greets.  Nothing stays behind: no goroutine (the connect's, the Close of
// the half-made Client), no descriptor.
func TestCancelledDialsLeaveNothingBehind(t *testing.T) {
	q := startQEMU(t)
	waitForSocket(t, q.sock)
	tcp, err := net.Listen("tcp", "127.0.0.1:0") // never accepts: connects, never greets
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours := os.NewFile(uintptr(pair[0]), "ours")
	defer ours.Close()
	silent := os.NewFile(uintptr(pair[1]), "silent peer") // never writes
	defer silent.Close()
	missing := filepath.Join(t.TempDir(), "later.sock")
	q.signal(syscall.SIGSTOP) // QEMU's socket still takes connections, into its backlog
	dials := []struct {
		name string
		dial func(ctx context.Context) error
	}{
		{"DialUnix, no socket yet", func(ctx context.Context) error {
			_, err := qmp.DialUnix(ctx, missing)
			return err
		}},
		{"DialUnix, QEMU stopped", func(ctx context.Context) error {
			_, err := qmp.DialUnix(ctx, q.sock)
			return err
		}},
		{"DialTCP, never greets", func(ctx context.Context) error {
			_, err := qmp.DialTCP(ctx, tcp.Addr().String())
			return err
		}},
		{"FromConn, never greets", func(ctx context.Context) error {
			_, err := qmp.FromConn(ctx, ours)
			return err
		}},
	}
	var worst time.Duration
	for _, d := range dials {
		fds := openFDs(t)
		start := time.Now()
		_, cleared := cancelledAfter(t, "", 100*time.Millisecond, d.dial)
		fdsBackWithin(t, fds, time.Second)
		t.Logf("%s: done %v after its start", d.name, time.Since(start))
		if cleared > worst {
			worst = cleared
		}
	}
	t.Logf("cancelled Dials: their goroutines gone at most %v after the cancel", worst)
	// QEMU takes the next connection once it runs again.
	q.signal(syscall.SIGCONT)
	c := q.dial()
	if _, err := c.Execute(bg, "query-status", nil); err != nil {
		t.Fatalf("Execute on a Client dialled after the cancelled ones: %v", err)
	}
}

// A cancelled schema fetch (Schema, SchemaHas, SetValidation while QEMU
// is stopped) ends in C at once; the Client stays usable, drops the late
// reply, fetches the schema again when asked, and a cancelled
// SetValidation left validation off.
func TestCancelledSchemaCallsLeaveNothingBehind(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	if _, err := c.Execute(bg, "query-status", nil); err != nil {
		t.Fatal(err)
	}
	baseline := runtime.NumGoroutine()
	q.signal(syscall.SIGSTOP)
	cancelledAfter(t, "query-qmp-schema", 50*time.Millisecond, func(ctx context.Context) error {
		_, err := c.Schema(ctx)
		return err
	})
	cancelledAfter(t, "query-qmp-schema", 50*time.Millisecond, func(ctx context.Context) error {
		_, err := c.SchemaHas(ctx, "query-status")
		return err
	})
	cancelledAfter(t, "query-qmp-schema", 50*time.Millisecond, func(ctx context.Context) error {
		return c.SetValidation(ctx, qmp.Validate)
	})
	q.signal(syscall.SIGCONT)
	var st struct{ Status string }
	if err := c.ExecuteInto(bg, &st, "query-status", nil, qmp.WithTimeout(10*time.Second)); err != nil || st.Status != "running" {
		t.Fatalf("query-status after the cancelled fetches: %+v, %v", st, err)
	}
	if v := c.Validation(); v != 0 {
		t.Fatalf("Validation after a cancelled SetValidation: %d, want 0 (off)", v)
	}
	if ok, err := c.SchemaHas(bg, "query-status"); !ok || err != nil {
		t.Fatalf("SchemaHas after the cancelled fetches: %v, %v", ok, err)
	}
	s, err := c.Schema(bg)
	if err != nil {
		t.Fatalf("Schema after the cancelled fetches: %v", err)
	}
	s.Close()
	goroutinesBackTo(t, baseline)
}
