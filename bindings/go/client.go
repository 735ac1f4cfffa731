package qmp

import (
	"encoding/json"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

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
	if s.hasTimeout {
		set(libqmp.Qmpb_client_set_timeout(b, s.timeoutMS()))
	}
	if s.usedValidation && s.validation != 0 {
		// Not connected yet: the first validated command fetches the schema.
		set(libqmp.Qmpb_client_set_validation(b, int(s.validation)))
	}
	if err != nil {
		libqmp.Qmpb_client_free(b)
		return nil, err
	}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

func dial(opts []Option, connect func(b libqmp.Struct_SS_qmpb_client, timeoutMS int) libqmp.Qmpb_result) (*Client, error) {
	s := collect(opts)
	c, err := newClient(&s)
	if err != nil {
		return nil, err
	}
	if _, err := c.call("", func(b libqmp.Struct_SS_qmpb_client) libqmp.Qmpb_result {
		return connect(b, s.timeoutMS())
	}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// DialUnix connects to QEMU's QMP socket at path (-qmp unix:PATH,server=on),
// reads the greeting and negotiates capabilities.  A socket that does not
// exist yet is retried until the timeout: QEMU may still be starting.
func DialUnix(path string, opts ...Option) (*Client, error) {
	return dial(opts, func(b libqmp.Struct_SS_qmpb_client, ms int) libqmp.Qmpb_result {
		return libqmp.Qmpb_client_connect_unix(b, path, ms)
	})
}

// DialTCP connects to address, "host:port" (-qmp tcp:HOST:PORT,server=on).
func DialTCP(address string, opts ...Option) (*Client, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, invalid("DialTCP: %v", err)
	}
	return dial(opts, func(b libqmp.Struct_SS_qmpb_client, ms int) libqmp.Qmpb_result {
		return libqmp.Qmpb_client_connect_tcp(b, host, port, ms)
	})
}

// FromConn speaks QMP over a connected stream socket that the program
// already has (a *net.UnixConn, *net.TCPConn, or *os.File from a
// socketpair, say).  The Client works on a duplicate of its descriptor:
// conn stays the caller's, to close when convenient.
func FromConn(conn syscall.Conn, opts ...Option) (*Client, error) {
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
	taken := false
	c, err := dial(opts, func(b libqmp.Struct_SS_qmpb_client, ms int) libqmp.Qmpb_result {
		taken = true // connect_fd owns the duplicate, also when it fails
		return libqmp.Qmpb_client_connect_fd(b, dup, ms)
	})
	if !taken {
		syscall.Close(dup)
	}
	return c, err
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
func (c *Client) Execute(name string, args any, opts ...Option) (json.RawMessage, error) {
	text, err := encodeCommand(name, args)
	if err != nil {
		return nil, err
	}
	return c.execute(name, text, opts)
}

// ExecuteInto is Execute that decodes the "return" value into v.
func (c *Client) ExecuteInto(v any, name string, args any, opts ...Option) error {
	ret, err := c.Execute(name, args, opts...)
	if err != nil {
		return err
	}
	return json.Unmarshal(ret, v)
}

// ExecuteJSON sends a command made by hand, {"execute": ..., "arguments": ...}
// without "id".
func (c *Client) ExecuteJSON(command []byte, opts ...Option) (json.RawMessage, error) {
	return c.execute("", string(command), opts)
}

func (c *Client) execute(name, text string, opts []Option) (json.RawMessage, error) {
	s := collect(opts)
	if err := s.forCall("Execute"); err != nil {
		return nil, err
	}
	oob := 0
	if s.oob {
		oob = 1
	}
	var ret string
	err := withFDs(s.files, nil, func(fds string) error {
		var err error
		ret, err = c.call(name, func(b libqmp.Struct_SS_qmpb_client) libqmp.Qmpb_result {
			return libqmp.Qmpb_client_execute(b, text, s.timeoutMS(), fds, oob, s.callValidation())
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return json.RawMessage(ret), nil
}

// withFDs runs fn with the descriptors of files as the shim's list "5,7",
// each kept open (and not switched to blocking mode, as File.Fd would)
// for the duration of fn.
func withFDs(files []*os.File, fds []string, fn func(list string) error) error {
	if len(files) == 0 {
		return fn(strings.Join(fds, ","))
	}
	if files[0] == nil {
		return invalid("WithFiles: a nil *os.File")
	}
	raw, err := files[0].SyscallConn()
	if err != nil {
		return err
	}
	var inner error
	if err := raw.Control(func(fd uintptr) {
		inner = withFDs(files[1:], append(fds, strconv.FormatUint(uint64(fd), 10)), fn)
	}); err != nil {
		return err
	}
	return inner
}

// withFD is withFDs for one file.
func withFD(f *os.File, fn func(fd int) error) error {
	return withFDs([]*os.File{f}, nil, func(list string) error {
		fd, _ := strconv.Atoi(list)
		return fn(fd)
	})
}

// HMP runs a human monitor command (human-monitor-command) and returns what
// it printed.
func (c *Client) HMP(commandLine string) (string, error) {
	return c.call("human-monitor-command", func(b libqmp.Struct_SS_qmpb_client) libqmp.Qmpb_result {
		return libqmp.Qmpb_client_hmp(b, commandLine)
	})
}

// GetFD passes f to QEMU under name (getfd).  f stays the caller's.
func (c *Client) GetFD(f *os.File, name string) error {
	return withFD(f, func(fd int) error {
		_, err := c.call("getfd", func(b libqmp.Struct_SS_qmpb_client) libqmp.Qmpb_result {
			return libqmp.Qmpb_client_getfd(b, fd, name)
		})
		return err
	})
}

// CloseFD closes the file QEMU received under name (closefd).
func (c *Client) CloseFD(name string) error {
	_, err := c.call("closefd", func(b libqmp.Struct_SS_qmpb_client) libqmp.Qmpb_result {
		return libqmp.Qmpb_client_closefd(b, name)
	})
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
func (c *Client) AddFD(f *os.File, fdsetID int64, opaque string) (AddedFD, error) {
	var added AddedFD
	err := withFD(f, func(fd int) error {
		text, err := c.call("add-fd", func(b libqmp.Struct_SS_qmpb_client) libqmp.Qmpb_result {
			return libqmp.Qmpb_client_add_fd(b, fd, fdsetID, opaque)
		})
		if err != nil {
			return err
		}
		return json.Unmarshal([]byte(text), &added)
	})
	return added, err
}

// Action is one action of a transaction: {"type": Type, "data": Data}.
type Action struct {
	Type string `json:"type"`
	Data any    `json:"data,omitempty"`
}

// Transaction runs actions atomically (the transaction command).  For its
// "properties" (completion-mode), use Execute("transaction", ...).
func (c *Client) Transaction(actions []Action, opts ...Option) error {
	if actions == nil {
		actions = []Action{}
	}
	_, err := c.Execute("transaction", map[string]any{"actions": actions}, opts...)
	return err
}

// Version is libqmp's version, "MAJOR.MINOR.MICRO".
func Version() string { return libqmp.Qmp_version_string() }
