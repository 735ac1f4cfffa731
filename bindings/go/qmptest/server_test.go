package qmptest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"libqmp.org/qmp"
	"libqmp.org/qmp/qmptest"
)

const wait = 5 * time.Second

// testData is a file of tests/data in the source tree: $LIBQMP_TEST_DATA
// (meson sets it), or found from the source tree's bindings/go/qmptest.
// bg is the context of the calls that no context bounds.
var bg = context.Background()

func testData(t *testing.T, parts ...string) string {
	t.Helper()
	base := os.Getenv("LIBQMP_TEST_DATA")
	if base == "" {
		base = filepath.Join("..", "..", "..", "tests", "data")
	}
	path := filepath.Join(append([]string{base}, parts...)...)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("test data: %v (set LIBQMP_TEST_DATA to the source tree's tests/data)", err)
	}
	return path
}

func schema(t *testing.T) *qmp.Schema {
	t.Helper()
	data, err := os.ReadFile(testData(t, "qemu-7.2", "query-qmp-schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := qmp.ParseSchema(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// unplugDisk is the toolstack function under test, the same as
// examples/unplug-disk.h: hot-unplug id and wait for DEVICE_DELETED.
func unplugDisk(c *qmp.Client, id string, timeout time.Duration) error {
	seq := c.EventSeq() // before the command: the event may come at once
	if _, err := c.Execute(bg, "device_del", map[string]any{"id": id}); err != nil {
		return err
	}
	_, err := c.WaitEvent(bg, "DEVICE_DELETED", map[string]any{"device": id}, seq, qmp.WithTimeout(timeout))
	return err
}

// The example's test (tests/mock/test-unplug.c) in Go, with QEMU 7.2's
// schema checking that the script is what QEMU would send.

func TestUnplugCompletes(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.WithSchema(schema(t)))
	s.Expect("device_del", map[string]any{"id": "disk0"}, nil)
	// QEMU reports the virtio backend first (no "device"), then the device.
	s.Event("DEVICE_DELETED", map[string]any{"path": "/machine/peripheral/disk0/virtio-backend"})
	s.Event("DEVICE_DELETED", map[string]any{"device": "disk0", "path": "/machine/peripheral/disk0"})
	if err := unplugDisk(s.Dial(bg), "disk0", wait); err != nil {
		t.Fatal(err)
	}
}

func TestUnplugRefused(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.WithSchema(schema(t)))
	s.ExpectError("device_del", map[string]any{"id": "disk0"}, "DeviceNotFound", "Device 'disk0' not found")
	err := unplugDisk(s.Dial(bg), "disk0", wait)
	var ce *qmp.CommandError
	if !errors.As(err, &ce) || ce.Class != "DeviceNotFound" || ce.Desc != "Device 'disk0' not found" {
		t.Fatalf("unplug: %v, want DeviceNotFound", err)
	}
}

func TestGuestNeverReleases(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.WithSchema(schema(t)))
	s.Expect("device_del", map[string]any{"id": "disk0"}, nil)
	if err := unplugDisk(s.Dial(bg), "disk0", 100*time.Millisecond); !errors.Is(err, qmp.ErrTimeout) {
		t.Fatalf("unplug: %v, want a timeout", err)
	}
}

func TestOtherDeviceDoesNotCount(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.WithSchema(schema(t)))
	s.Expect("device_del", map[string]any{"id": "disk0"}, nil)
	s.Event("DEVICE_DELETED", map[string]any{"device": "disk1", "path": "/machine/peripheral/disk1"})
	if err := unplugDisk(s.Dial(bg), "disk0", 100*time.Millisecond); !errors.Is(err, qmp.ErrTimeout) {
		t.Fatalf("unplug: %v, want a timeout", err)
	}
}

func TestWrongDeviceIsAMismatch(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.WithSchema(schema(t)))
	s.Expect("device_del", map[string]any{"id": "disk0"}, nil)
	err := unplugDisk(s.Dial(bg), "disk9", wait)
	want := `qmp_mock: command 'device_del': expected arguments {"id":"disk0"}, got {"id":"disk9"}`
	var ce *qmp.CommandError
	if !errors.As(err, &ce) || ce.Class != "GenericError" || ce.Desc != want {
		t.Fatalf("unplug: %v, want GenericError %q", err, want)
	}
	err = s.Verify(wait)
	var qe *qmp.Error
	if !errors.As(err, &qe) || qe.Code != qmp.CodeProtocol || qe.Message != want {
		t.Fatalf("Verify: %v, want %q", err, want)
	}
	// Returned by Verify: the cleanup does not report it again.
}

// recorded reads a .replies file with encoding/json, apart from the library.
func recorded(t *testing.T, path string) []map[string]json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var values []map[string]json.RawMessage
	for _, block := range strings.Split(string(data), "\n\n") {
		if strings.TrimSpace(block) == "" {
			continue
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal([]byte(block), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		values = append(values, v)
	}
	return values
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// Every recorded command gets the answer QEMU 7.2 gave (ids aside); the
// events come where they came, with their recorded timestamps.
func TestReplayQEMURecording(t *testing.T) {
	path := testData(t, "qemu-7.2", "session.replies")
	values := recorded(t, path)
	s := qmptest.NewServer(t, qmptest.WithReplies(path))
	c := s.Dial(bg)
	commands, events := 0, 0
	for i, v := range values {
		var name string
		if v["execute"] == nil {
			continue
		}
		if err := json.Unmarshal(v["execute"], &name); err != nil {
			t.Fatal(err)
		}
		if name == "qmp_capabilities" {
			continue // the negotiation, done by Dial
		}
		seq := c.EventSeq()
		ret, err := c.Execute(bg, name, v["arguments"])
		j := i + 1
		for ; values[j]["event"] != nil; j++ {
			var want struct {
				Event     string
				Timestamp struct{ Seconds, Microseconds int64 }
			}
			b, _ := json.Marshal(values[j])
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			ev, err := c.WaitEvent(bg, want.Event, nil, seq, qmp.WithTimeout(wait))
			if err != nil {
				t.Fatalf("%s: %v", want.Event, err)
			}
			if !ev.Timestamp.Equal(time.Unix(want.Timestamp.Seconds, want.Timestamp.Microseconds*1000)) {
				t.Errorf("%s: timestamp %v", want.Event, ev.Timestamp)
			}
			events++
		}
		if values[j]["return"] != nil {
			if err != nil || !jsonEqual(t, ret, values[j]["return"]) {
				t.Errorf("%s: %s, %v; recorded %s", name, ret, err, values[j]["return"])
			}
		} else {
			var want struct{ Class, Desc string }
			if err := json.Unmarshal(values[j]["error"], &want); err != nil {
				t.Fatal(err)
			}
			var ce *qmp.CommandError
			if !errors.As(err, &ce) || ce.Class != want.Class || ce.Desc != want.Desc {
				t.Errorf("%s: %v; recorded %s", name, err, values[j]["error"])
			}
		}
		commands++
	}
	if commands != 8 || events != 2 {
		t.Errorf("%d commands and %d events, want 8 and 2 (STOP, RESUME)", commands, events)
	}
}

func TestRecordingFitsTheSchema(t *testing.T) {
	path := testData(t, "qemu-7.2", "session.replies")
	s := qmptest.NewServer(t, qmptest.WithSchema(schema(t)), qmptest.WithReplies(path))
	var v struct {
		QEMU struct{ Major, Minor, Micro int }
	}
	c := s.Dial(bg)
	if err := c.ExecuteInto(bg, &v, "query-version", nil); err != nil || v.QEMU.Major != 7 || v.QEMU.Minor != 2 {
		t.Fatalf("query-version: %+v, %v", v, err)
	}
	err := s.Verify(50 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "still expected command 'query-status' ("+path+":28)") {
		t.Fatalf("Verify: %v, want the rest of the recording, naming its line", err)
	}
}

// fakeTB records what a test would report, and runs the cleanups when told.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	errors   []string
	fatals   []string
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func (f *fakeTB) finish() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
}

// The cleanup verifies: a program that sends another command fails the
// test through t.Errorf, naming the mismatch.
func TestMismatchReportedByCleanup(t *testing.T) {
	ft := &fakeTB{TB: t}
	s := qmptest.NewServer(ft, qmptest.WithVerifyTimeout(wait))
	s.Expect("stop", nil, nil)
	_, err := s.Dial(bg).Execute(bg, "cont", nil)
	var ce *qmp.CommandError
	if !errors.As(err, &ce) || ce.Desc != "qmp_mock: expected command 'stop', got 'cont'" {
		t.Fatalf("cont: %v", err)
	}
	if len(ft.errors) != 0 {
		t.Fatalf("reported before the cleanup: %q", ft.errors)
	}
	ft.finish()
	want := []string{"qmptest: qmp: qmp_mock: expected command 'stop', got 'cont'"}
	if !reflect.DeepEqual(ft.errors, want) || len(ft.fatals) != 0 {
		t.Fatalf("reported %q (fatal %q), want %q", ft.errors, ft.fatals, want)
	}
}

// A script the program never finishes is reported at the cleanup too.
func TestUnfinishedScriptReportedByCleanup(t *testing.T) {
	ft := &fakeTB{TB: t}
	s := qmptest.NewServer(ft, qmptest.WithVerifyTimeout(50*time.Millisecond))
	s.Expect("stop", nil, nil).Expect("cont", nil, nil)
	if _, err := s.Dial(bg).Execute(bg, "stop", nil); err != nil {
		t.Fatal(err)
	}
	ft.finish()
	want := []string{"qmptest: qmp: qmp_mock: expectations never reached after 50 ms: still expected command 'cont'"}
	if !reflect.DeepEqual(ft.errors, want) {
		t.Fatalf("reported %q, want %q", ft.errors, want)
	}
}

// A bad script item fails the test at the call that adds it.
func TestBadScriptItems(t *testing.T) {
	ft := &fakeTB{TB: t}
	s := qmptest.NewServer(ft, qmptest.WithSchema(schema(t)))
	s.ExpectResponse("stop", nil, map[string]any{"ret": map[string]any{}})
	s.Expect("stop", []int{1}, nil)
	s.EventJSON(`{"data": {}}`)
	s.Expect("query-status", nil, map[string]any{"status": "running"})
	s.LoadReplies(filepath.Join(t.TempDir(), "none.replies"))
	want := []string{
		`qmptest: Expect stop: qmp: the response to 'stop': a response must be {"return": ...} or ` +
			`{"error": {"class": ..., "desc": ...}}: it has neither`,
		`qmptest: Expect stop: qmp: the expected arguments of 'stop' must be a JSON object`,
		`qmptest: Event: qmp: an event must have an "event" name`,
		`qmptest: Expect query-status: qmp: the scripted return is not valid: query-status/ret-type: ` +
			`return: missing required member 'running'`,
	}
	if len(ft.fatals) != 5 || !reflect.DeepEqual(ft.fatals[:4], want) ||
		!strings.HasPrefix(ft.fatals[4], "qmptest: LoadReplies: qmp: ") {
		t.Fatalf("fatal %q, want %q and LoadReplies' error", ft.fatals, want)
	}
	// Nothing was added: the empty script verifies.
	ft.finish()
	if len(ft.errors) != 0 {
		t.Fatalf("reported %q", ft.errors)
	}
}

func TestBadRepliesFileNamesTheLine(t *testing.T) {
	ft := &fakeTB{TB: t}
	path := filepath.Join(t.TempDir(), "bad.replies")
	if err := os.WriteFile(path, []byte("{\"execute\": \"stop\"}\n\n{\"return\": {}}\n\n{\"execute\": \"cont\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	qmptest.NewServer(ft, qmptest.WithReplies(path))
	want := []string{"qmptest: LoadReplies: qmp: " + path + ":5: the command 'cont' has no response (the file ends)"}
	if !reflect.DeepEqual(ft.fatals, want) {
		t.Fatalf("fatal %q, want %q", ft.fatals, want)
	}
	ft.finish()
}

func TestListenUnixAndGreeting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "qmp.sock")
	s := qmptest.NewServer(t, qmptest.WithGreeting([]byte(
		`{"QMP": {"version": {"qemu": {"major": 8, "minor": 0, "micro": 0}, "package": ""}, "capabilities": []}}`)))
	s.Expect("query-name", nil, map[string]string{"name": "vm0"})
	if err := s.ListenUnix(path); err != nil {
		t.Fatal(err)
	}
	c, err := qmp.DialUnix(bg, path, qmp.WithTimeout(wait))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g, _ := c.Greeting()
	ret, err := c.Execute(bg, "query-name", nil)
	if !strings.Contains(string(g), `"major":8`) || err != nil || !jsonEqual(t, ret, []byte(`{"name": "vm0"}`)) {
		t.Fatalf("greeting %s, query-name %s, %v", g, ret, err)
	}
	if err := s.Verify(wait); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s after Close: %v", path, err)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// The cleanup frees everything: 200 servers, each with a client, leave no
// fd behind (each has a socketpair and a client socket while it runs).
func TestManyServersLeaveNoFD(t *testing.T) {
	before := openFDs(t)
	for i := 0; i < 200; i++ {
		ft := &fakeTB{TB: t}
		s := qmptest.NewServer(ft)
		s.Expect("query-name", nil, map[string]string{"name": "vm"})
		if _, err := s.Dial(bg).Execute(bg, "query-name", nil); err != nil {
			t.Fatal(err)
		}
		ft.finish()
		if len(ft.errors)+len(ft.fatals) != 0 {
			t.Fatalf("server %d: %q %q", i, ft.errors, ft.fatals)
		}
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d fds open, %d before", after, before)
	}
}
