package qmp_test

import (
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"libqmp.org/qmp"
	"libqmp.org/qmp/internal/libqmp"
)

func TestCodesAreTheLibrarys(t *testing.T) {
	for code, c := range map[qmp.Code]int{
		qmp.CodeOK: libqmp.QMP_OK, qmp.CodeInvalid: libqmp.QMP_EINVAL, qmp.CodeNoMemory: libqmp.QMP_ENOMEM,
		qmp.CodeIO: libqmp.QMP_EIO, qmp.CodeClosed: libqmp.QMP_ECLOSED, qmp.CodeTimedOut: libqmp.QMP_ETIMEDOUT,
		qmp.CodeProtocol: libqmp.QMP_EPROTO, qmp.CodeHandshake: libqmp.QMP_EHANDSHAKE,
		qmp.CodeNegotiation: libqmp.QMP_ENEGOTIATION, qmp.CodeCommand: libqmp.QMP_ECOMMAND,
		qmp.CodeTooBig: libqmp.QMP_ETOOBIG, qmp.CodeCancelled: libqmp.QMP_ECANCELLED,
		qmp.CodeDeadlock: libqmp.QMP_EDEADLK,
	} {
		if int(code) != c {
			t.Errorf("%v: Go %d, C %d", code, int(code), c)
		}
	}
	if qmp.CodeTimedOut.String() == "" || !strings.HasPrefix(qmp.Version(), "0.") {
		t.Errorf("strerror %q, version %q", qmp.CodeTimedOut.String(), qmp.Version())
	}
}

func TestConnectAndExecute(t *testing.T) {
	q := startQEMU(t)
	c := q.dial()
	if !c.Connected() {
		t.Fatal("not connected after DialUnix")
	}
	g, err := c.Greeting()
	if err != nil || !strings.Contains(string(g), `"QMP"`) {
		t.Fatalf("Greeting: %s, %v", g, err)
	}
	ret, err := c.Execute(bg, "query-status", nil)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(ret, &raw); err != nil || raw["status"] == nil {
		t.Fatalf("query-status: %s, %v", ret, err)
	}
	var st struct {
		Status  string `json:"status"`
		Running bool   `json:"running"`
	}
	if err := c.ExecuteInto(bg, &st, "query-status", map[string]any{}); err != nil || st.Status == "" {
		t.Fatalf("ExecuteInto: %+v, %v", st, err)
	}
	var props []struct{ Name, Type string }
	if err := c.ExecuteInto(bg, &props, "qom-list", map[string]any{"path": "/machine"}); err != nil || len(props) == 0 {
		t.Fatalf("qom-list: %v, %v", props, err)
	}
	type path struct {
		Path string `json:"path"`
	}
	if _, err := c.Execute(bg, "qom-list", path{"/"}, qmp.WithTimeout(5*time.Second)); err != nil {
		t.Fatalf("struct arguments: %v", err)
	}
	ret, err = c.ExecuteJSON(bg, []byte(`{"execute": "query-version"}`))
	if err != nil || !strings.Contains(string(ret), `"qemu"`) {
		t.Fatalf("ExecuteJSON: %s, %v", ret, err)
	}
	out, err := c.HMP(bg, "info version")
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("HMP: %q, %v", out, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Execute(bg, "query-status", nil); !errors.Is(err, qmp.ErrClosed) {
		t.Fatalf("Execute after Close: %v, want ErrClosed", err)
	}
	if c.Connected() {
		t.Fatal("Connected after Close")
	}
}

func TestCommandError(t *testing.T) {
	c := startQEMU(t).dial()
	_, err := c.Execute(bg, "no-such-command", nil)
	var ce *qmp.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T), want a *CommandError", err, err)
	}
	if ce.Class != "CommandNotFound" || ce.Desc == "" || ce.Command != "no-such-command" {
		t.Fatalf("CommandError %+v", ce)
	}
	if errors.Is(err, qmp.ErrTimeout) || errors.Is(err, qmp.ErrClosed) {
		t.Fatal("a CommandError is neither ErrTimeout nor ErrClosed")
	}
	_, err = c.Execute(bg, "qom-list", map[string]any{"path": "/no/such/path"})
	if !errors.As(err, &ce) || ce.Class == "" {
		t.Fatalf("qom-list of nothing: %v", err)
	}
	// The connection goes on after a command error.
	if _, err := c.Execute(bg, "query-status", nil); err != nil {
		t.Fatal(err)
	}
}

// WithOOB negotiates "oob" at Dial and runs a command out of band at
// Execute; QEMU refuses it for a command not marked for it.
func TestOOB(t *testing.T) {
	q := startQEMU(t)
	plain := q.dial()
	if plain.HasCapability("oob") {
		t.Fatal("oob negotiated without WithOOB")
	}
	plain.Close() // QEMU serves one client per monitor
	c := q.dial(qmp.WithOOB())
	if !c.HasCapability("oob") {
		t.Fatal("WithOOB: oob not negotiated")
	}
	var yank []any
	if err := c.ExecuteInto(bg, &yank, "query-yank", nil, qmp.WithOOB()); err != nil {
		t.Fatalf("query-yank out of band: %v", err)
	}
	_, err := c.Execute(bg, "query-status", nil, qmp.WithOOB())
	var ce *qmp.CommandError
	if !errors.As(err, &ce) || ce.Class != "GenericError" {
		t.Fatalf("query-status out of band: %v, want a GenericError", err)
	}
	if _, err := c.Execute(bg, "query-status", nil); err != nil {
		t.Fatalf("in band afterwards: %v", err)
	}
}

func TestTransaction(t *testing.T) {
	c := startQEMU(t).dial()
	if err := c.Transaction(bg, nil); err != nil {
		t.Fatalf("empty transaction: %v", err)
	}
	err := c.Transaction(bg, []qmp.Action{{Type: "block-dirty-bitmap-add",
		Data: map[string]any{"node": "no-such-node", "name": "b0"}}})
	var ce *qmp.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("transaction on a missing node: %v, want a CommandError", err)
	}
}

func TestBadOptions(t *testing.T) {
	var e *qmp.Error
	if _, err := qmp.DialUnix(bg, "/nonexistent", qmp.WithFiles(nil)); !errors.As(err, &e) || e.Code != qmp.CodeInvalid {
		t.Fatalf("Dial WithFiles: %v", err)
	}
	c := startQEMU(t).dial()
	if _, err := c.Execute(bg, "query-status", nil, qmp.WithEventBuffer(5)); !errors.As(err, &e) || e.Code != qmp.CodeInvalid {
		t.Fatalf("Execute WithEventBuffer: %v", err)
	}
	if _, err := c.Execute(bg, "", nil); !errors.As(err, &e) || e.Code != qmp.CodeInvalid {
		t.Fatalf("Execute of no name: %v", err)
	}
	if _, err := c.Execute(bg, "qom-list", func() {}); !errors.As(err, &e) || e.Code != qmp.CodeInvalid {
		t.Fatalf("arguments that are not JSON: %v", err)
	}
}

func TestDialFailures(t *testing.T) {
	start := time.Now()
	_, err := qmp.DialUnix(bg, t.TempDir()+"/none.sock", qmp.WithTimeout(300*time.Millisecond))
	if !errors.Is(err, qmp.ErrTimeout) {
		t.Fatalf("DialUnix of a missing socket: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("DialUnix took %v", d)
	}
	if _, err := qmp.DialTCP(bg, "no-port"); err == nil {
		t.Fatal("DialTCP of no port succeeded")
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestDialTCP(t *testing.T) {
	port := strconv.Itoa(freePort(t))
	startQEMUWith(t, "tcp:127.0.0.1:"+port+",server=on,wait=off")
	var c *qmp.Client
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		// TCP is not retried by libqmp (ECONNREFUSED is an answer): QEMU may still be starting.
		if c, err = qmp.DialTCP(bg, "127.0.0.1:"+port, qmp.WithTimeout(5*time.Second)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("DialTCP: %v", err)
	}
	defer c.Close()
	if _, err := c.Execute(bg, "query-status", nil); err != nil {
		t.Fatal(err)
	}
}

func TestFromConn(t *testing.T) {
	q := startQEMU(t)
	var conn *net.UnixConn
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if conn, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: q.sock, Net: "unix"}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := qmp.FromConn(bg, conn, qmp.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("FromConn: %v", err)
	}
	defer c.Close()
	conn.Close() // the caller's: the client has its own descriptor
	if _, err := c.Execute(bg, "query-status", nil); err != nil {
		t.Fatalf("Execute after the caller closed its conn: %v", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	c := startQEMU(t).dial()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				var st struct{ Status string }
				if err := c.ExecuteInto(bg, &st, "query-status", nil); err != nil || st.Status == "" {
					errs <- err
					return
				}
				if g%2 == 0 {
					if _, err := c.Execute(bg, "no-such", nil); err == nil {
						errs <- errors.New("no-such succeeded")
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
