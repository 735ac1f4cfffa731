package qmp

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"libqmp.org/qmp/internal/libqmp"
)

// DialAgentUnix connects to a guest agent (qemu-ga) through the Unix
// socket at path: the host end of its virtio-serial channel, or qemu-ga's
// own socket.  There is no greeting: the channel is synchronised
// (guest-sync-delimited).  When no agent answers within the timeout
// (WithTimeout, else 30 s) the error is ErrTimeout with a message naming
// the guest agent; when ctx ends first, a *ContextError.
func DialAgentUnix(ctx context.Context, path string, opts ...Option) (*Client, error) {
	return dial(ctx, opts, func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call, ms int) libqmp.Qmpb_result {
		return libqmp.Qmpb_client_connect_agent_unix(b, call, path, ms)
	})
}

// IsAgent reports whether c is connected to a guest agent.
func (c *Client) IsAgent() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.b != nil && libqmp.Qmpb_client_is_agent(c.b) == 1
}

// AgentPing sends guest-ping and reports whether the agent answered within
// one second.  The error is for failures other than the agent's silence
// (ErrInvalid on a monitor connection; a *ContextError when ctx ends
// first).
func (c *Client) AgentPing(ctx context.Context) (bool, error) {
	_, err := c.shimCall(ctx, "guest-ping", func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) libqmp.Qmpb_result {
		return libqmp.Qmpb_agent_ping(b, call, 1000)
	})
	if isTimeout(err) {
		return false, nil
	}
	return err == nil, err
}

// AgentCommands returns the names of the commands the agent has enabled
// (those blocked with qemu-ga -b left out) and its version.
func (c *Client) AgentCommands(ctx context.Context) (names []string, version string, err error) {
	text, err := c.shimCall(ctx, "guest-info", func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) libqmp.Qmpb_result {
		return libqmp.Qmpb_agent_commands(b, call)
	})
	if err != nil {
		return nil, "", err
	}
	var o struct {
		Version  string   `json:"version"`
		Commands []string `json:"commands"`
	}
	if err := json.Unmarshal([]byte(text), &o); err != nil {
		return nil, "", err
	}
	return o.Commands, o.Version, nil
}

// ExecResult is what a program run by AgentExec came to.
type ExecResult struct {
	PID             int64
	ExitCode        int // -1 when a signal ended it
	Signal          int // the signal that ended it, else 0
	Stdout, Stderr  []byte
	StdoutTruncated bool // the agent kept only the start of stdout
	StderrTruncated bool
}

// Success reports an exit with status 0.
func (r *ExecResult) Success() bool { return r.ExitCode == 0 && r.Signal == 0 }

// ExitError is the error of r.Err() for a program that failed.
type ExitError struct {
	Program string
	Result  *ExecResult
}

func (e *ExitError) Error() string {
	if e.Result.Signal != 0 {
		return fmt.Sprintf("qmp: %s was killed by signal %d", e.Program, e.Result.Signal)
	}
	return fmt.Sprintf("qmp: %s exited with status %d", e.Program, e.Result.ExitCode)
}

// AgentExec runs argv (argv[0] a path in the guest) through guest-exec,
// with stdin on its standard input (nil: none) and env ("NAME=value"; nil:
// the agent's), and waits until it exits: the timeout is WithTimeout, else
// the client's default.  A program that exits non-zero is not an error:
// read ExitCode and Signal, or use AgentExecCheck.  A *CommandError when
// the agent refuses (a missing program); ErrTimeout when it runs longer,
// a *ContextError when ctx ends first (either way it keeps running in the
// guest).
func (c *Client) AgentExec(ctx context.Context, argv []string, stdin []byte, env []string,
	opts ...Option) (*ExecResult, error) {
	if err := noFiles(opts, "AgentExec"); err != nil {
		return nil, err
	}
	if len(argv) == 0 {
		return nil, invalid("AgentExec: empty argv (argv[0] is the program to run)")
	}
	argvJSON, err := json.Marshal(argv)
	if err != nil {
		return nil, err
	}
	envJSON := ""
	if env != nil {
		b, err := json.Marshal(env)
		if err != nil {
			return nil, err
		}
		envJSON = string(b)
	}
	s := collect(opts)
	text, err := c.shimCall(ctx, "guest-exec", func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) libqmp.Qmpb_result {
		return libqmp.Qmpb_agent_exec(b, call, string(argvJSON), envJSON, hex.EncodeToString(stdin), s.timeoutMS())
	})
	if err != nil {
		return nil, err
	}
	var o struct {
		PID          int64  `json:"pid"`
		ExitCode     int    `json:"exit_code"`
		Signal       int    `json:"signal"`
		Out          string `json:"out"`
		Err          string `json:"err"`
		OutTruncated bool   `json:"out_truncated"`
		ErrTruncated bool   `json:"err_truncated"`
	}
	if err := json.Unmarshal([]byte(text), &o); err != nil {
		return nil, err
	}
	r := &ExecResult{PID: o.PID, ExitCode: o.ExitCode, Signal: o.Signal,
		StdoutTruncated: o.OutTruncated, StderrTruncated: o.ErrTruncated}
	if r.Stdout, err = hex.DecodeString(o.Out); err != nil {
		return nil, err
	}
	if r.Stderr, err = hex.DecodeString(o.Err); err != nil {
		return nil, err
	}
	return r, nil
}

// AgentExecCheck is AgentExec that also returns an *ExitError (with the
// result) when the program exits non-zero or is killed.
func (c *Client) AgentExecCheck(ctx context.Context, argv []string, stdin []byte, env []string,
	opts ...Option) (*ExecResult, error) {
	r, err := c.AgentExec(ctx, argv, stdin, env, opts...)
	if err != nil {
		return nil, err
	}
	if !r.Success() {
		return r, &ExitError{Program: argv[0], Result: r}
	}
	return r, nil
}

// AgentFileRead returns the contents of a guest file (guest-file-open,
// -read in chunks, -close).  maxBytes: an *Error with CodeTooBig beyond it (0: 64 MiB).  A
// *CommandError when the agent refuses (a missing file...).
func (c *Client) AgentFileRead(ctx context.Context, path string, maxBytes int) ([]byte, error) {
	if maxBytes < 0 {
		return nil, invalid("AgentFileRead: negative maxBytes %d", maxBytes)
	}
	text, err := c.shimCall(ctx, "guest-file-read", func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) libqmp.Qmpb_result {
		return libqmp.Qmpb_agent_file_read(b, call, path, uint64(maxBytes))
	})
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(text)
}

// AgentFileWrite writes data to a guest file, creating or truncating it.
// A *CommandError when the agent refuses (e.g. a read-only path).
func (c *Client) AgentFileWrite(ctx context.Context, path string, data []byte) error {
	_, err := c.shimCall(ctx, "guest-file-write", func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) libqmp.Qmpb_result {
		return libqmp.Qmpb_agent_file_write(b, call, path, hex.EncodeToString(data))
	})
	return err
}
