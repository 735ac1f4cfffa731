package qmp_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"libqmp.org/qmp"
	"libqmp.org/qmp/internal/libqmp"
)

const (
	ioURing    = "blockdev-add/arg-type/+file/aio/^io_uring"
	badAIO     = "blockdev-add: arguments.file.aio: 'io_urin' is not one of threads, native, io_uring"
	deprecated = "drive-backup: command 'drive-backup' is deprecated"
)

// testData is a file of tests/data in the source tree: $LIBQMP_TEST_DATA
// (meson sets it), or found from the source tree's bindings/go.
func testData(t *testing.T, parts ...string) string {
	t.Helper()
	base := os.Getenv("LIBQMP_TEST_DATA")
	if base == "" {
		base = filepath.Join("..", "..", "tests", "data")
	}
	path := filepath.Join(append([]string{base}, parts...)...)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("test data: %v (set LIBQMP_TEST_DATA to the source tree's tests/data)", err)
	}
	return path
}

func badBlockdev() map[string]any {
	return map[string]any{"driver": "qcow2", "node-name": "q0",
		"file": map[string]any{"driver": "file", "filename": "/dev/null", "aio": "io_urin"}}
}

var driveBackup = map[string]any{"device": "d0", "target": "/nonexistent/backup.img", "sync": "full"}

// invalidMessage fails the test unless err is a CodeInvalid *Error; it returns the message.
func invalidMessage(t *testing.T, err error) string {
	t.Helper()
	var e *qmp.Error
	if !errors.As(err, &e) || e.Code != qmp.CodeInvalid || !errors.Is(err, qmp.ErrInvalid) {
		t.Fatalf("want an *Error with CodeInvalid, got %T %v", err, err)
	}
	return e.Message
}

func commandClass(t *testing.T, err error) string {
	t.Helper()
	var ce *qmp.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *CommandError, got %T %v", err, err)
	}
	return ce.Class
}

func mustRun(t *testing.T, c *qmp.Client) {
	t.Helper()
	var st struct{ Status string }
	if err := c.ExecuteInto(bg, &st, "query-status", nil); err != nil || st.Status != "running" {
		t.Fatalf("query-status: %+v, %v", st, err)
	}
}

func TestValidationFlagsAreTheLibrarys(t *testing.T) {
	if int(qmp.Validate) != libqmp.QMP_VALIDATE || int(qmp.DenyDeprecated) != libqmp.QMP_VALIDATE_DENY_DEPRECATED ||
		int(qmp.DenyUnstable) != libqmp.QMP_VALIDATE_DENY_UNSTABLE {
		t.Fatal("the Validation flags differ from the C library's")
	}
}

func TestSchemaHas(t *testing.T) {
	c := startQEMU(t).dial()
	for query, want := range map[string]bool{
		ioURing: true,
		"blockdev-add/arg-type/+file/aio/^io_urin": false,
		"no-such-command":                          false,
		"x-debug-query-block-graph/$unstable":      true,
		"query-cpus-fast/$unstable":                false,
	} {
		got, err := c.SchemaHas(bg, query)
		if err != nil || got != want {
			t.Errorf("SchemaHas(%q) = %v, %v; want %v", query, got, err, want)
		}
	}
	for _, bad := range []string{"blockdev-add//aio", ""} {
		got, err := c.SchemaHas(bg, bad)
		if msg := invalidMessage(t, err); got || !strings.Contains(msg, "malformed") {
			t.Errorf("SchemaHas(%q) = %v, %q", bad, got, msg)
		}
	}
	mustRun(t, c)
	c.Close()
	if _, err := c.SchemaHas(bg, ioURing); !errors.Is(err, qmp.ErrClosed) {
		t.Fatalf("SchemaHas after Close: %v", err)
	}
}

func TestValidationRefusesBeforeSending(t *testing.T) {
	c := startQEMU(t).dial()
	if v := c.Validation(); v != 0 {
		t.Fatalf("Validation() = %d before SetValidation", v)
	}
	if err := c.SetValidation(bg, qmp.Validate); err != nil {
		t.Fatal(err)
	}
	if v := c.Validation(); v != qmp.Validate {
		t.Fatalf("Validation() = %d", v)
	}
	_, err := c.Execute(bg, "blockdev-add", badBlockdev())
	if msg := invalidMessage(t, err); msg != badAIO {
		t.Fatalf("message %q, want %q", msg, badAIO)
	}
	if err.Error() != "qmp: "+badAIO {
		t.Fatalf("Error() = %q", err.Error())
	}
	// QEMU never saw it: no node, and the client goes on.
	mustRun(t, c)
	var nodes []struct {
		NodeName string `json:"node-name"`
	}
	if err := c.ExecuteInto(bg, &nodes, "query-named-block-nodes", nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.NodeName == "q0" {
			t.Fatal("the refused blockdev-add reached QEMU")
		}
	}
	if _, err := c.Execute(bg, "blockdev-add", map[string]any{"driver": "null-co", "node-name": "n0"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Execute(bg, "blockdev-add", map[string]any{"driver": "null-co", "node-nam": "n1"})
	if msg := invalidMessage(t, err); !strings.Contains(msg, "did you mean 'node-name'") {
		t.Fatalf("message %q", msg)
	}
}

func TestValidationPerCall(t *testing.T) {
	c := startQEMU(t).dial(qmp.WithValidation(qmp.Validate))
	if v := c.Validation(); v != qmp.Validate {
		t.Fatalf("Validation() = %d after WithValidation", v)
	}
	// Off for one call: QEMU's own error.
	_, err := c.Execute(bg, "blockdev-add", badBlockdev(), qmp.WithValidation(0))
	if class := commandClass(t, err); class != "GenericError" || !strings.Contains(err.Error(), "io_urin") {
		t.Fatalf("%v", err)
	}
	// The client's setting is unchanged.
	_, err = c.Execute(bg, "blockdev-add", badBlockdev())
	invalidMessage(t, err)
	if err := c.SetValidation(bg, 0); err != nil {
		t.Fatal(err)
	}
	_, err = c.Execute(bg, "blockdev-add", badBlockdev())
	commandClass(t, err)
	// On for one call, on a client that does not validate.
	_, err = c.Execute(bg, "blockdev-add", badBlockdev(), qmp.WithValidation(qmp.Validate))
	if msg := invalidMessage(t, err); msg != badAIO {
		t.Fatalf("message %q", msg)
	}
	_, err = c.ExecuteJSON(bg, []byte(`{"execute": "blockdev-add", "arguments": {"driver": "null-co", "x": 1}}`),
		qmp.WithValidation(qmp.Validate))
	invalidMessage(t, err)
	if err := c.SetValidation(bg, -1); !errors.Is(err, qmp.ErrInvalid) {
		t.Fatalf("SetValidation(-1): %v", err)
	}
	if _, err := c.HMP(bg, "info status"); err != nil {
		t.Fatal(err)
	}
	mustRun(t, c)
}

func TestValidationDenyDeprecated(t *testing.T) {
	c := startQEMU(t).dial()
	if err := c.SetValidation(bg, qmp.Validate | qmp.DenyDeprecated); err != nil {
		t.Fatal(err)
	}
	_, err := c.Execute(bg, "drive-backup", driveBackup)
	if msg := invalidMessage(t, err); msg != deprecated+" (refused by QMP_VALIDATE_DENY_DEPRECATED)" {
		t.Fatalf("message %q", msg)
	}
	// Plain validation lets it through (a warning only): QEMU answers.
	_, err = c.Execute(bg, "drive-backup", driveBackup, qmp.WithValidation(qmp.Validate))
	if class := commandClass(t, err); class != "GenericError" {
		t.Fatalf("%v", err)
	}
	if err := c.SetValidation(bg, qmp.DenyUnstable); err != nil {
		t.Fatal(err)
	}
	if v := c.Validation(); v != qmp.Validate|qmp.DenyUnstable {
		t.Fatalf("Validation() = %d", v)
	}
	_, err = c.Execute(bg, "x-debug-query-block-graph", nil)
	if msg := invalidMessage(t, err); !strings.Contains(msg, "unstable") {
		t.Fatalf("message %q", msg)
	}
	mustRun(t, c)
}

func TestSchemaObject(t *testing.T) {
	c := startQEMU(t).dial()
	s, err := c.Schema(bg, qmp.WithTimeout(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ok, err := s.Has(ioURing); !ok || err != nil {
		t.Fatalf("Has: %v, %v", ok, err)
	}
	if ok, err := s.Has("blockdev-add/arg-type/+file/aio/^io_urin"); ok || err != nil {
		t.Fatalf("Has: %v, %v", ok, err)
	}
	_, err = s.Has("blockdev-add//aio")
	invalidMessage(t, err)
	commands, err := s.Commands()
	if err != nil || !sort.StringsAreSorted(commands) {
		t.Fatalf("Commands: %v, %v", commands, err)
	}
	events, err := s.Events()
	if err != nil {
		t.Fatal(err)
	}
	has := func(list []string, name string) bool {
		i := sort.SearchStrings(list, name)
		return i < len(list) && list[i] == name
	}
	if !has(commands, "query-status") || !has(commands, "blockdev-add") || has(commands, "STOP") || !has(events, "STOP") {
		t.Fatalf("commands %d, events %v", len(commands), events)
	}
	// The Schema outlives the Client.
	c.Close()
	args, err := s.Arguments("drive-backup")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]qmp.Argument{}
	for _, a := range args {
		byName[a.Name] = a
	}
	if sync := byName["sync"]; sync.Type != "enum" || sync.Optional || !strings.Contains(","+strings.Join(sync.Values, ",")+",", ",full,") {
		t.Fatalf("sync: %+v", sync)
	}
	if job := byName["job-id"]; job.Type != "str" || !job.Optional {
		t.Fatalf("job-id: %+v", job)
	}
	d, err := s.Describe("query-status")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "query-status" || d.MetaType != "command" || d.Returns == nil || d.Returns.Type != "object" {
		t.Fatalf("Describe: %+v", d)
	}
	found := false
	for _, m := range d.Returns.Members {
		if m.Name == "status" && m.Type != nil && m.Type.Type == "enum" && len(m.Type.Values) > 0 {
			found = true
		}
	}
	if !found {
		t.Fatalf("Describe: no status member in %+v", d.Returns.Members)
	}
	// A union's branches.
	b, err := s.Describe("blockdev-add")
	if err != nil || b.Arguments == nil || b.Arguments.Tag != "driver" {
		t.Fatalf("Describe(blockdev-add): %v", err)
	}
	if file := b.Arguments.Variants["file"]; file == nil || file.Type != "object" || len(file.Members) == 0 {
		t.Fatalf("Describe(blockdev-add): the file branch: %+v", file)
	}
	raw, err := s.DescribeJSON("query-status")
	if err != nil || !json.Valid(raw) || !strings.Contains(string(raw), `"meta-type"`) {
		t.Fatalf("DescribeJSON: %s, %v", raw, err)
	}
	_, err = s.Arguments("no-such-command")
	invalidMessage(t, err)
	_, err = s.Describe("no-such-thing")
	invalidMessage(t, err)
	s.Close()
	_, err = s.Has("query-status")
	if msg := invalidMessage(t, err); !strings.Contains(msg, "closed") {
		t.Fatalf("after Close: %q", msg)
	}
	s.Close() // twice: harmless
}

func TestSchemaValidate(t *testing.T) {
	c := startQEMU(t).dial()
	s, err := c.Schema(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if w, err := s.Validate("query-status", nil, 0); err != nil || w == nil || len(w) != 0 {
		t.Fatalf("query-status: %#v, %v", w, err)
	}
	if w, err := s.Validate("drive-backup", driveBackup, 0); err != nil || len(w) != 1 || w[0] != deprecated {
		t.Fatalf("drive-backup: %#v, %v", w, err)
	}
	_, err = s.Validate("drive-backup", driveBackup, qmp.DenyDeprecated)
	if msg := invalidMessage(t, err); !strings.Contains(msg, "deprecated") {
		t.Fatal(msg)
	}
	_, err = s.Validate("blockdev-add", badBlockdev(), qmp.Validate)
	if msg := invalidMessage(t, err); msg != badAIO {
		t.Fatal(msg)
	}
	if w, err := s.Validate("blockdev-add", map[string]any{"driver": "null-co", "node-name": "n0"}, 0); err != nil || len(w) != 0 {
		t.Fatalf("%v, %v", w, err)
	}
	if w, err := s.ValidateJSON([]byte(`{"execute": "x-debug-query-block-graph"}`), 0); err != nil || len(w) != 1 {
		t.Fatalf("%v, %v", w, err)
	}
	_, err = s.Validate("x-debug-query-block-graph", nil, qmp.DenyUnstable)
	invalidMessage(t, err)
	_, err = s.Validate("no-such-command", nil, 0)
	if msg := invalidMessage(t, err); !strings.Contains(msg, "no-such-command") {
		t.Fatal(msg)
	}
	_, err = s.ValidateJSON([]byte(`{"execute": `), 0)
	invalidMessage(t, err)
}

// The schema captured from QEMU 7.2, parsed; the caller closes it.
func parseCapturedSchema(t *testing.T) *qmp.Schema {
	t.Helper()
	data, err := os.ReadFile(testData(t, "qemu-7.2", "query-qmp-schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := qmp.ParseSchema(data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// No QEMU: the schema captured from QEMU 7.2.
func TestParseSchemaOffline(t *testing.T) {
	s := parseCapturedSchema(t)
	defer s.Close()
	for query, want := range map[string]bool{
		ioURing: true, "blockdev-add/arg-type/+file/aio/^io_urin": false, "x-debug-query-block-graph/$unstable": true,
	} {
		if got, err := s.Has(query); got != want || err != nil {
			t.Errorf("Has(%q) = %v, %v", query, got, err)
		}
	}
	if cmds, err := s.Commands(); err != nil || len(cmds) < 100 {
		t.Fatalf("Commands: %d, %v", len(cmds), err)
	}
	_, err := s.Validate("blockdev-add", badBlockdev(), 0)
	if msg := invalidMessage(t, err); msg != badAIO {
		t.Fatal(msg)
	}
	if w, err := s.Validate("drive-backup", driveBackup, 0); err != nil || len(w) != 1 || w[0] != deprecated {
		t.Fatalf("%v, %v", w, err)
	}
	_, err = qmp.ParseSchema([]byte("not json"))
	invalidMessage(t, err)
	_, err = qmp.ParseSchema([]byte(`[{"name": "x"}]`))
	if msg := invalidMessage(t, err); !strings.Contains(msg, "'x'") {
		t.Fatal(msg)
	}
}

// Goroutines share a Schema; Close while they use it makes their calls fail
// with CodeInvalid ("closed"), nothing worse.  Each goroutine calls until it
// has seen the close, so every one of them meets it.
func TestSchemaSharedAndClosed(t *testing.T) {
	s := parseCapturedSchema(t)
	var wg, started sync.WaitGroup
	var sawClosed atomic.Int32
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				ok, err := s.Has(ioURing)
				if err != nil {
					var e *qmp.Error
					if !errors.As(err, &e) || e.Code != qmp.CodeInvalid || !strings.Contains(e.Message, "closed") {
						errs <- err
					} else {
						sawClosed.Add(1)
					}
					return
				}
				if !ok {
					errs <- errors.New("Has: false")
					return
				}
			}
			errs <- errors.New("the close was never seen")
		}()
	}
	started.Wait()
	time.Sleep(5 * time.Millisecond)
	s.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := sawClosed.Load(); n != 8 {
		t.Errorf("%d of 8 goroutines saw the close", n)
	}
}
