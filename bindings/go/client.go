package qmp

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"libqmp.org/qmp/internal/libqmp"
)

// Client is one QMP connection.  Its methods may be called from several
// goroutines at once; Close ends the calls still running (with ErrClosed).
type Client struct {
	// Every call into C holds mu shared; Close frees the C client holding
	// it exclusively, so no call can use a freed client.
	mu sync.RWMutex
	b  libqmp.Struct_SS_qmpb_client // nil once closed

	closeOnce sync.Once
	closeErr  error

	ev events
}

func newClient(s *settings) (*Client, error) {
	if s.usedFiles {
		return nil, invalid("Dial: WithFiles is for Execute")
	}
	b := libqmp.Qmpb_client_new()
	if b.Swigcptr() == 0 {
		return nil, &Error{Code: CodeNoMemory, Message: CodeNoMemory.String()}
	}
	c := &Client{b: b}
	c.ev.init()
	var err error
	set := func(r libqmp.Qmpb_result) {
		if _, e := take(r, ""); e != nil && err == nil {
			err = e
		}
	}
	if s.oob {
		set(libqmp.Qmpb_client_set_oob(b, 1))
	}
	if s.usedEventBuf {
		set(libqmp.Qmpb_client_set_event_buffer(b, uint64(s.eventBuf)))
	}
	if s.usedMaxMessage {
		set(libqmp.Qmpb_client_set_max_message_size(b, uint64(s.maxMessage)))
	}
	if s.hasDefault {
		set(libqmp.Qmpb_client_set_timeout(b, s.defaultMS()))
	}
	if err != nil {
		libqmp.Qmpb_client_free(b)
		return nil, err
	}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// dial connects a new Client; the timeout of WithTimeout (else the
// default, 30 s) bounds the connect and the handshake only.  When ctx ends
// first, Dial cancels the connect (its retries and the handshake too),
// returns at once, and the half-made Client is closed.
func dial(ctx context.Context, opts []Option,
	connect func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call, timeoutMS int) libqmp.Qmpb_result) (*Client, error) {
	if ctx == nil {
		return nil, invalid("Dial: nil context")
	}
	s := collect(opts)
	c, err := newClient(&s)
	if err != nil {
		return nil, err
	}
	ms := s.timeoutMS()
	if ms == 0 {
		ms = int(defaultTimeout / time.Millisecond)
	}
	if s.usedValidation && s.validation != 0 {
		// Not connected yet: nothing is fetched now; the first validated
		// command fetches the schema.
		_, err = c.shimCall(ctx, "", func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) libqmp.Qmpb_result {
			return libqmp.Qmpb_client_set_validation(b, call, int(s.validation))
		})
	}
	if err == nil {
		_, err = c.shimCall(ctx, "", func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) libqmp.Qmpb_result {
			return connect(b, call, ms)
		})
	}
	if err != nil {
		if _, ok := err.(*ContextError); ok {
			// The cancelled connect ends in C a moment later: Close waits
			// for it, without keeping the caller waiting.
			go c.Close()
		} else {
			c.Close()
		}
		return nil, err
	}
	return c, nil
}

// DialUnix connects to QEMU's QMP socket at path (-qmp unix:PATH,server=on),
// reads the greeting and negotiates capabilities.  A socket that does not
// exist yet is retried until the timeout: QEMU may still be starting.
func DialUnix(ctx context.Context, path string, opts ...Option) (*Client, error) {
	return dial(ctx, opts, func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call, ms int) libqmp.Qmpb_result {
		return libqmp.Qmpb_client_connect_unix(b, call, path, ms)
	})
}

// DialTCP connects to address, "host:port" (-qmp tcp:HOST:PORT,server=on).
func DialTCP(ctx context.Context, address string, opts ...Option) (*Client, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, invalid("DialTCP: %v", err)
	}
	return dial(ctx, opts, func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call, ms int) libqmp.Qmpb_result {
		return libqmp.Qmpb_client_connect_tcp(b, call, host, port, ms)
	})
}

// FromConn speaks QMP over a connected stream socket that the program
// already has (a *net.UnixConn, *net.TCPConn, or *os.File from a
// socketpair, say).  The Client works on a duplicate of its descriptor:
// conn stays the caller's, to close when convenient.
func FromConn(ctx context.Context, conn syscall.Conn, opts ...Option) (*Client, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	dup := -1
	var dupErr error
	if err := raw.Control(func(fd uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			dupErr = os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", errno)
			return
		}
		dup = int(r)
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	// A Dial that ends first (its context) closes the duplicate unless
	// adoptFD took it.
	var owner atomic.Int32 // 0 open, 1 taken by adoptFD, 2 abandoned
	c, err := dial(ctx, opts, adoptFD(&owner, dup))
	if err != nil && owner.CompareAndSwap(0, 2) {
		syscall.Close(dup)
	}
	return c, err
}

// adoptFD is FromConn's connect: connect_fd on dup, unless the Dial has
// already ended (owner no longer 0).  connect_fd owns the descriptor once
// it runs, also when it fails; a call that the cancelled handle refused
// never ran, so the descriptor is still ours to close.
func adoptFD(owner *atomic.Int32, dup int) func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call, ms int) libqmp.Qmpb_result {
	return func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call, ms int) libqmp.Qmpb_result {
		fd := -1 // connect_fd refuses it: the Dial has already ended
		if owner.CompareAndSwap(0, 1) {
			fd = dup
		}
		r := libqmp.Qmpb_client_connect_fd(b, call, fd, ms)
		if fd >= 0 && refused(call) {
			syscall.Close(fd)
		}
		return r
	}
}

func errClientClosed() error {
	return &Error{Code: CodeClosed, Message: "the Client is closed"}
}

// call runs fn on the C client and takes its result (the one place that
// does: every qmpb_result is freed in take).
func (c *Client) call(command string, fn func(b libqmp.Struct_SS_qmpb_client) libqmp.Qmpb_result) (string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.b == nil {
		return "", errClientClosed()
	}
	return take(fn(c.b), command)
}

// Close closes the connection and releases the client.  Calls running in
// other goroutines end with ErrClosed, event channels are closed, and later
// calls fail with ErrClosed.  Closing twice is harmless.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		runtime.SetFinalizer(c, nil)
		// Closing first ends the blocked calls, so the exclusive lock is
		// not kept waiting for their timeouts.
		_, err := c.call("", libqmp.Qmpb_client_close)
		c.mu.Lock()
		libqmp.Qmpb_client_free(c.b)
		c.b = nil
		c.mu.Unlock()
		c.ev.stopAll()
		if err != nil && !isClosed(err) {
			c.closeErr = err
		}
	})
	return c.closeErr
}

func isClosed(err error) bool {
	e, ok := err.(*Error)
	return ok && (e.Code == CodeClosed || e.Code == CodeCancelled)
}

// Connected reports whether the connection is up (handshake done, not closed).
func (c *Client) Connected() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.b != nil && libqmp.Qmpb_client_is_connected(c.b) != 0
}

// HasCapability reports whether a capability ("oob") was negotiated.
func (c *Client) HasCapability(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.b != nil && libqmp.Qmpb_client_has_capability(c.b, name) != 0
}

// Greeting is the server's greeting, {"QMP": {"version": ..., "capabilities": [...]}}.
func (c *Client) Greeting() (json.RawMessage, error) {
	text, err := c.call("", libqmp.Qmpb_client_greeting)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(text), nil
}

type command struct {
	Execute   string          `json:"execute"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// encodeCommand makes {"execute": name, "arguments": args}; args nil (or
// anything that encodes as null) means no arguments.
func encodeCommand(name string, args any) (string, error) {
	if name == "" {
		return "", invalid("Execute: empty command name")
	}
	cmd := command{Execute: name}
	if args != nil {
		a, err := json.Marshal(args)
		if err != nil {
			return "", invalid("%s: arguments: %v", name, err)
		}
		if string(a) != "null" {
			cmd.Arguments = a
		}
	}
	text, err := json.Marshal(cmd)
	return string(text), err
}

// Execute runs the command name with args (a map[string]any, a struct with
// json tags, a json.RawMessage, or nil) and returns the server's "return"
// value.  Options: WithTimeout, WithFiles, WithOOB, WithValidation.  The
// server's error is a *CommandError; a command that validation refuses is
// an *Error with CodeInvalid (errors.Is(err, ErrInvalid)), never sent.
//
// ctx bounds the wait too: when it is cancelled or its deadline passes
// first, Execute returns a *ContextError at once (errors.Is(err,
// context.Canceled) or context.DeadlineExceeded) and the late reply is
// dropped.
func (c *Client) Execute(ctx context.Context, name string, args any, opts ...Option) (json.RawMessage, error) {
	text, err := encodeCommand(name, args)
	if err != nil {
		return nil, err
	}
	return c.execute(ctx, name, text, opts)
}

// ExecuteInto is Execute that decodes the "return" value into v.
func (c *Client) ExecuteInto(ctx context.Context, v any, name string, args any, opts ...Option) error {
	ret, err := c.Execute(ctx, name, args, opts...)
	if err != nil {
		return err
	}
	return json.Unmarshal(ret, v)
}

// ExecuteJSON sends a command made by hand, {"execute": ..., "arguments": ...}
// without "id".
func (c *Client) ExecuteJSON(ctx context.Context, command []byte, opts ...Option) (json.RawMessage, error) {
	return c.execute(ctx, "", string(command), opts)
}

func (c *Client) execute(ctx context.Context, name, text string, opts []Option) (json.RawMessage, error) {
	if ctx == nil {
		return nil, invalid("%s: nil context", name)
	}
	s := collect(opts)
	if err := s.forCall("Execute"); err != nil {
		return nil, err
	}
	oob := 0
	if s.oob {
		oob = 1
	}
	// The files stay in use (os.File's Control) until C is done with them,
	// also when ctx ends the wait first: closing one then defers the close.
	ret, _, err := c.withCall(ctx, name, func(_ libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) (string, uint64, error) {
		if err := withFDs(s.files, nil, func(fds []int32) error {
			libqmp.Qmpb_call_execute(call, text, s.timeoutMS(), fds, oob, s.callValidation())
			return nil
		}); err != nil {
			return "", 0, err
		}
		return callOutcome(call, name)
	})
	if err != nil {
		return nil, err
	}
	return json.RawMessage(ret), nil
}

// withFDs runs fn with the descriptors of files, each kept open (and not
// switched to blocking mode, as File.Fd would) for the duration of fn.
func withFDs(files []*os.File, fds []int32, fn func(fds []int32) error) error {
	if len(files) == 0 {
		return fn(fds)
	}
	if files[0] == nil {
		return invalid("WithFiles: a nil *os.File")
	}
	raw, err := files[0].SyscallConn()
	if err != nil {
		return invalid("WithFiles: %v", err)
	}
	var inner error
	if err := raw.Control(func(fd uintptr) {
		inner = withFDs(files[1:], append(fds, int32(fd)), fn)
	}); err != nil {
		// a closed *os.File: the caller's bad argument
		return invalid("WithFiles: %v", err)
	}
	return inner
}

// HMP runs a human monitor command (human-monitor-command) and returns what
// it printed.  Options: WithTimeout.
func (c *Client) HMP(ctx context.Context, commandLine string, opts ...Option) (string, error) {
	if err := noFiles(opts, "HMP"); err != nil {
		return "", err
	}
	var out string
	err := c.ExecuteInto(ctx, &out, "human-monitor-command", map[string]any{"command-line": commandLine}, opts...)
	return out, err
}

// GetFD passes f to QEMU under name (getfd).  f stays the caller's.
// Options: WithTimeout.
func (c *Client) GetFD(ctx context.Context, f *os.File, name string, opts ...Option) error {
	if err := noFiles(opts, "GetFD"); err != nil {
		return err
	}
	if f == nil {
		return invalid("GetFD: a nil *os.File")
	}
	_, err := c.Execute(ctx, "getfd", map[string]any{"fdname": name}, append(opts, WithFiles(f))...)
	return err
}

// CloseFD closes the file QEMU received under name (closefd).  Options:
// WithTimeout.
func (c *Client) CloseFD(ctx context.Context, name string, opts ...Option) error {
	if err := noFiles(opts, "CloseFD"); err != nil {
		return err
	}
	_, err := c.Execute(ctx, "closefd", map[string]any{"fdname": name}, opts...)
	return err
}

// NewFDSet as AddFD's fdsetID asks QEMU for a new fd set.
const NewFDSet int64 = -1

// AddedFD is where add-fd put a file: QEMU opens it as /dev/fdset/FDSetID.
type AddedFD struct {
	FDSetID int64 `json:"fdset-id"`
	FD      int64 `json:"fd"`
}

// AddFD passes f to QEMU into the fd set fdsetID (NewFDSet: a new one),
// with an optional opaque string (add-fd).  f stays the caller's.
// Options: WithTimeout.
func (c *Client) AddFD(ctx context.Context, f *os.File, fdsetID int64, opaque string, opts ...Option) (AddedFD, error) {
	var added AddedFD
	if err := noFiles(opts, "AddFD"); err != nil {
		return added, err
	}
	if f == nil {
		return added, invalid("AddFD: a nil *os.File")
	}
	args := map[string]any{}
	if fdsetID >= 0 {
		args["fdset-id"] = fdsetID
	}
	if opaque != "" {
		args["opaque"] = opaque
	}
	err := c.ExecuteInto(ctx, &added, "add-fd", args, append(opts, WithFiles(f))...)
	return added, err
}

// Action is one action of a transaction: {"type": Type, "data": Data}.  An
// action without data (Data nil, such as "abort") is sent with "data": {},
// which QEMU requires.
type Action struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

// MarshalJSON sends a nil Data as {}.
func (a Action) MarshalJSON() ([]byte, error) {
	type plain Action
	if a.Data == nil {
		a.Data = struct{}{}
	}
	return json.Marshal(plain(a))
}

// Transaction runs actions atomically (the transaction command).  For its
// "properties" (completion-mode), use Execute(ctx, "transaction", ...).
// Options: as Execute's.
func (c *Client) Transaction(ctx context.Context, actions []Action, opts ...Option) error {
	if actions == nil {
		actions = []Action{}
	}
	_, err := c.Execute(ctx, "transaction", map[string]any{"actions": actions}, opts...)
	return err
}

// Version is libqmp's version, "MAJOR.MINOR.MICRO".
func Version() string { return libqmp.Qmp_version_string() }
