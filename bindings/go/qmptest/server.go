// Package qmptest is libqmp's test server for Go tests, in the manner of
// net/http/httptest: a scripted QMP server, so that the QMP code of a
// program is tested without QEMU.
//
//	func TestUnplug(t *testing.T) {
//		s := qmptest.NewServer(t)
//		s.Expect("device_del", map[string]any{"id": "disk0"}, nil)
//		s.Event("DEVICE_DELETED", map[string]any{"device": "disk0"})
//		c := s.Dial(context.Background())
//		if err := UnplugDisk(c, "disk0"); err != nil {
//			t.Fatal(err)
//		}
//	} // the cleanup verifies the conversation: t.Errorf names the first mismatch
//
// The server takes the script in order: each expectation is a command the
// program must send (with exactly these arguments, unless nil) and the
// answer it gets; each event is sent after the answer to the expectation
// before it.  A command that does not match is answered with a
// GenericError that says what was expected, so the program fails where it
// went wrong.  LoadReplies appends a libvirt .replies recording of a real
// QEMU; WithSchema checks the script and the conversation against a
// QEMU's schema.
//
// A script item that is not what it claims (a response that is neither a
// return nor an error, an event without a name, a return the schema does
// not allow) fails the test with t.Fatalf at the call that adds it.
package qmptest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"libqmp.org/qmp"
	"libqmp.org/qmp/internal/bridge"
	"libqmp.org/qmp/internal/libqmp"
)

// DefaultVerifyTimeout is how long the cleanup waits for the rest of the
// script, unless WithVerifyTimeout says otherwise.
const DefaultVerifyTimeout = 5 * time.Second

// Option configures a Server in NewServer.
type Option func(*config)

type config struct {
	greeting      []byte
	schema        *qmp.Schema
	replies       []string
	verifyTimeout time.Duration
}

// WithGreeting replaces the greeting ({"QMP": {...}} as JSON; QEMU 7.2's by default).
func WithGreeting(greeting []byte) Option { return func(c *config) { c.greeting = greeting } }

// WithSchema checks every command received, every scripted return and every
// event against s (from qmp.ParseSchema, say of a saved query-qmp-schema).
func WithSchema(s *qmp.Schema) Option { return func(c *config) { c.schema = s } }

// WithReplies starts the script with a libvirt .replies recording (see LoadReplies).
func WithReplies(path string) Option { return func(c *config) { c.replies = append(c.replies, path) } }

// WithVerifyTimeout sets how long the cleanup's verification waits for the
// program to use up the script.
func WithVerifyTimeout(d time.Duration) Option { return func(c *config) { c.verifyTimeout = d } }

// Server is a scripted QMP server serving one connection.  Its methods may
// be called from several goroutines, also while the server runs.
type Server struct {
	t             testing.TB
	verifyTimeout time.Duration

	// Every call into C holds hmu shared; Close frees the holder holding
	// it exclusively (after the calls in progress, a Verify say, return).
	hmu sync.RWMutex
	h   libqmp.Qmpb_mock // nil once closed

	mu       sync.Mutex
	clients  []*qmp.Client
	reported bool // Verify returned a mismatch: the cleanup does not report it again
}

// NewServer makes a test server whose cleanup (t.Cleanup) verifies the
// conversation, reporting a mismatch with t.Errorf, closes the clients of
// Dial and stops the server.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{verifyTimeout: DefaultVerifyTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	h := libqmp.Qmpb_mock_new()
	if h == nil || h.Swigcptr() == 0 {
		t.Fatalf("qmptest: out of memory")
		return nil
	}
	s := &Server{t: t, h: h, verifyTimeout: cfg.verifyTimeout}
	t.Cleanup(s.cleanup)
	if cfg.greeting != nil {
		s.check("WithGreeting", func(h libqmp.Qmpb_mock) libqmp.Qmpb_result {
			return libqmp.Qmpb_mock_set_greeting(h, string(cfg.greeting))
		})
	}
	if cfg.schema != nil {
		s.SetSchema(cfg.schema)
	}
	for _, path := range cfg.replies {
		s.LoadReplies(path)
	}
	return s
}

// call runs fn on the server's holder and reads its result.
func (s *Server) call(fn func(h libqmp.Qmpb_mock) libqmp.Qmpb_result) (string, error) {
	s.hmu.RLock()
	defer s.hmu.RUnlock()
	if s.h == nil {
		return "", &qmp.Error{Code: qmp.CodeInvalid, Message: "the test server is closed"}
	}
	return bridge.Take(fn(s.h))
}

// check is call for the script's methods: a failure fails the test there.
func (s *Server) check(what string, fn func(h libqmp.Qmpb_mock) libqmp.Qmpb_result) bool {
	s.t.Helper()
	if _, err := s.call(fn); err != nil {
		s.t.Fatalf("qmptest: %s: %v", what, err)
		return false
	}
	return true
}

// encodeText is encode that takes a string as JSON text.
func encodeText(what string, v any) (string, error) {
	if x, ok := v.(string); ok {
		return x, nil
	}
	return encode(what, v)
}

func encode(what string, v any) (string, error) {
	switch x := v.(type) {
	case json.RawMessage:
		return string(x), nil
	case []byte:
		return string(x), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("qmptest: %s: %w", what, err)
	}
	return string(b), nil
}

func (s *Server) expect(command string, args any, response any) *Server {
	s.t.Helper()
	argsJSON := ""
	if args != nil {
		var err error
		if argsJSON, err = encode("Expect "+command+": arguments", args); err != nil {
			s.t.Fatalf("%v", err)
			return s
		}
	}
	respJSON, err := encodeText("Expect "+command+": response", response)
	if err != nil {
		s.t.Fatalf("%v", err)
		return s
	}
	s.check("Expect "+command, func(h libqmp.Qmpb_mock) libqmp.Qmpb_result {
		return libqmp.Qmpb_mock_expect(h, command, argsJSON, respJSON)
	})
	return s
}

// Expect appends an expectation: the next command must be command, with
// arguments equal to args as JSON (a map, a struct with json tags or a
// json.RawMessage; nil accepts any), and it is answered {"return": ret}
// ({} when ret is nil).
func (s *Server) Expect(command string, args any, ret any) *Server {
	s.t.Helper()
	if ret == nil {
		ret = json.RawMessage("{}")
	}
	retJSON, err := encode("Expect "+command+": return", ret)
	if err != nil {
		s.t.Fatalf("%v", err)
		return s
	}
	return s.expect(command, args, json.RawMessage(`{"return": `+retJSON+`}`))
}

// ExpectError appends an expectation answered {"error": {"class": class, "desc": desc}}.
func (s *Server) ExpectError(command string, args any, class, desc string) *Server {
	s.t.Helper()
	return s.expect(command, args, map[string]any{"error": map[string]string{"class": class, "desc": desc}})
}

// ExpectResponse appends an expectation answered with response as given
// ({"return": ...} or {"error": {...}}, as a value or JSON: a string,
// []byte or json.RawMessage).
func (s *Server) ExpectResponse(command string, args any, response any) *Server {
	s.t.Helper()
	return s.expect(command, args, response)
}

// Event appends an event named name with data (nil: none), sent after the
// answer to the expectation added before it; the timestamp is the time it
// is sent.
func (s *Server) Event(name string, data any) *Server {
	s.t.Helper()
	ev := map[string]any{"event": name}
	if data != nil {
		ev["data"] = data
	}
	return s.EventJSON(ev)
}

// EventJSON appends a whole event ({"event": ..., "data": ...,
// "timestamp": ...} as a value or JSON: a string, []byte or json.RawMessage).
func (s *Server) EventJSON(event any) *Server {
	s.t.Helper()
	text, err := encodeText("Event", event)
	if err != nil {
		s.t.Fatalf("%v", err)
		return s
	}
	s.check("Event", func(h libqmp.Qmpb_mock) libqmp.Qmpb_result { return libqmp.Qmpb_mock_event(h, text) })
	return s
}

// LoadReplies appends a libvirt .replies recording: its commands (with
// their recorded arguments, sent exactly), their responses and the events
// between them.  A malformed file fails the test naming "PATH:LINE".
func (s *Server) LoadReplies(path string) *Server {
	s.t.Helper()
	s.check("LoadReplies", func(h libqmp.Qmpb_mock) libqmp.Qmpb_result {
		return libqmp.Qmpb_mock_load_replies(h, path)
	})
	return s
}

// SetSchema checks the script (the part already added too) and the
// conversation against schema; nil turns checking off.
func (s *Server) SetSchema(schema *qmp.Schema) *Server {
	s.t.Helper()
	var err error
	if schema == nil {
		_, err = s.call(func(h libqmp.Qmpb_mock) libqmp.Qmpb_result {
			return libqmp.Qmpb_mock_set_schema(h, libqmp.SwigcptrQmpb_schema(0))
		})
	} else {
		err = bridge.WithSchema(schema, func(sh libqmp.Qmpb_schema) error {
			_, err := s.call(func(h libqmp.Qmpb_mock) libqmp.Qmpb_result { return libqmp.Qmpb_mock_set_schema(h, sh) })
			return err
		})
	}
	if err != nil {
		s.t.Fatalf("qmptest: SetSchema: %v", err)
	}
	return s
}

// Socketpair starts the server on a socketpair and returns the client's
// end, which is the caller's to close.
func (s *Server) Socketpair() (*os.File, error) {
	text, err := s.call(libqmp.Qmpb_mock_socketpair)
	if err != nil {
		return nil, err
	}
	fd, err := strconv.Atoi(text)
	if err != nil {
		return nil, fmt.Errorf("qmptest: socketpair: %q is not an fd", text)
	}
	return os.NewFile(uintptr(fd), "qmptest"), nil
}

// ListenUnix starts the server listening on a Unix socket at path (which
// must not exist) for one connection; the cleanup removes it.
func (s *Server) ListenUnix(path string) error {
	_, err := s.call(func(h libqmp.Qmpb_mock) libqmp.Qmpb_result { return libqmp.Qmpb_mock_listen_unix(h, path) })
	return err
}

// Dial starts the server on a socketpair and returns a client connected to
// it (greeting and negotiation done, within ctx), which the cleanup closes.
// A failure fails the test.
func (s *Server) Dial(ctx context.Context, opts ...qmp.Option) *qmp.Client {
	s.t.Helper()
	f, err := s.Socketpair()
	if err != nil {
		s.t.Fatalf("qmptest: Dial: %v", err)
		return nil
	}
	defer f.Close() // the client works on a duplicate
	c, err := qmp.FromConn(ctx, f, opts...)
	if err != nil {
		s.t.Fatalf("qmptest: Dial: %v", err)
		return nil
	}
	s.mu.Lock()
	s.clients = append(s.clients, c)
	s.mu.Unlock()
	return c
}

// Verify waits up to timeout (< 0: for ever) until the script is used up.
// nil when every expectation was met in order and nothing else arrived;
// else a *qmp.Error with CodeProtocol whose message names the first
// mismatch.  The cleanup does not report again a mismatch that Verify
// returned.
func (s *Server) Verify(timeout time.Duration) error {
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	_, err := s.call(func(h libqmp.Qmpb_mock) libqmp.Qmpb_result { return libqmp.Qmpb_mock_verify(h, ms) })
	if err != nil {
		s.mu.Lock()
		s.reported = true
		s.mu.Unlock()
	}
	return err
}

// Close verifies nothing: it closes the clients of Dial and stops the
// server.  The cleanup calls it; calling it twice is harmless.
func (s *Server) Close() {
	s.mu.Lock()
	clients := s.clients
	s.clients = nil
	s.mu.Unlock()
	for _, c := range clients {
		c.Close()
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.h != nil {
		libqmp.DeleteQmpb_mock(s.h) // stops the server and frees it
		s.h = nil
	}
}

func (s *Server) cleanup() {
	s.t.Helper()
	s.hmu.RLock()
	open := s.h != nil
	s.hmu.RUnlock()
	s.mu.Lock()
	reported := s.reported
	s.mu.Unlock()
	if open && !reported {
		if err := s.Verify(s.verifyTimeout); err != nil {
			s.t.Errorf("qmptest: %v", err)
		}
	}
	s.Close()
}
