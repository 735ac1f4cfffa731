package qmp

import (
	"context"
	"sync"
	"syscall"

	"libqmp.org/qmp/internal/libqmp"
)

// noCall: no handle, for the shim's blocking calls that take one.
var noCall = libqmp.SwigcptrStruct_SS_qmp_call(0)

// withCall runs fn, a blocking C call on a qmp_call handle (qmp-call.h),
// under ctx.  When ctx can end, the C call runs in a goroutine of its own
// and the caller waits for it or for ctx: when ctx ends first, the caller
// cancels the handle (qmp_call_cancel: the C wait returns at once, a
// command not yet sent is not sent, a late reply is dropped) and returns
// ctx's error without waiting for the goroutine, which ends with the C
// call a moment later.  Nothing is left waiting, in Go or in C.  The
// outcome is read from the handle, whatever OS thread runs the goroutine.
func (c *Client) withCall(ctx context.Context, command string, fn func(call libqmp.Struct_SS_qmp_call) error) (text string, seq uint64, err error) {
	if err := ctx.Err(); err != nil {
		return "", 0, &ContextError{Command: command, Err: err}
	}
	done := ctx.Done()
	if done == nil {
		return c.runCall(command, nil, fn)
	}
	type outcome struct {
		text string
		seq  uint64
		err  error
	}
	h := &handle{}
	out := make(chan outcome, 1)
	go func() {
		text, seq, err := c.runCall(command, h, fn)
		out <- outcome{text, seq, err}
	}()
	select {
	case o := <-out:
		if o.err != nil && h.wasCancelled() {
			return "", 0, &ContextError{Command: command, Err: ctx.Err()}
		}
		return o.text, o.seq, o.err
	case <-done:
		h.cancel()
		return "", 0, &ContextError{Command: command, Err: ctx.Err()}
	}
}

// handle lets the caller cancel a qmp_call that another goroutine made and
// frees: cancel before the call exists cancels it as it is made.
type handle struct {
	mu        sync.Mutex
	call      libqmp.Struct_SS_qmp_call // nil until made, and again once freed
	cancelled bool
}

func (h *handle) set(call libqmp.Struct_SS_qmp_call) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.call = call
	if call != nil && h.cancelled {
		libqmp.Qmp_call_cancel(call)
	}
}

func (h *handle) cancel() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cancelled = true
	if h.call != nil {
		libqmp.Qmp_call_cancel(h.call)
	}
}

func (h *handle) wasCancelled() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cancelled
}

// runCall makes a qmp_call handle on the C client, runs fn on it and reads
// its outcome; h (nil: none) may cancel it meanwhile.  An error of fn's
// own (a bad argument found before the C call) is the outcome.
func (c *Client) runCall(command string, h *handle, fn func(call libqmp.Struct_SS_qmp_call) error) (string, uint64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.b == nil {
		return "", 0, errClientClosed()
	}
	call := libqmp.Qmpb_call_new(c.b)
	if call.Swigcptr() == 0 {
		return "", 0, &Error{Code: CodeNoMemory, Message: CodeNoMemory.String()}
	}
	defer libqmp.Qmp_call_free(call)
	if h != nil {
		h.set(call)
		defer h.set(nil) // runs before the free: no cancel after it
	}
	if err := fn(call); err != nil {
		return "", 0, err
	}
	code := Code(libqmp.Qmp_call_status(call))
	if code == CodeOK {
		return libqmp.Qmp_call_result(call), libqmp.Qmp_call_seq(call), nil
	}
	e := libqmp.Qmp_call_error(call)
	if code == CodeCommand {
		return "", 0, &CommandError{Command: command, Class: e.GetQmp_class(), Desc: e.GetQmp_desc()}
	}
	return "", 0, &Error{Code: code, Errno: syscall.Errno(e.GetSys_errno()), Message: e.GetMessage()}
}
