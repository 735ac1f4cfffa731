package qmp

import (
	"context"
	"sync"
	"syscall"

	"libqmp.org/qmp/internal/libqmp"
)

// callFn is a blocking C call on the handle call (qmp-call.h), made on the
// C client b, and what it came to: the value as JSON text, an event's
// sequence number, or the error.  An error of its own (a bad argument
// found before the C call) is the outcome too.
type callFn func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) (text string, seq uint64, err error)

// withCall runs fn, every blocking call of the binding, on a qmp_call
// handle under ctx.  When ctx can end, the C call runs in a goroutine of
// its own and the caller waits for it or for ctx: when ctx ends first, the
// caller cancels the handle (qmp_call_cancel: the C wait returns at once,
// whatever it is waiting for: a connect and its retries, a handshake, a
// reply, an event, the schema, a guest agent helper's naps; a command not
// yet sent is not sent, a late reply is dropped) and returns ctx's error
// without waiting for the goroutine, which ends with the C call a moment
// later.  Nothing is left waiting, in Go or in C.  The outcome comes back
// from the goroutine, whatever OS thread ran it.
func (c *Client) withCall(ctx context.Context, command string, fn callFn) (text string, seq uint64, err error) {
	if err := ctx.Err(); err != nil {
		return "", 0, &ContextError{Command: command, Err: err}
	}
	done := ctx.Done()
	if done == nil {
		return c.runCall(nil, fn)
	}
	type outcome struct {
		text string
		seq  uint64
		err  error
	}
	h := &handle{}
	out := make(chan outcome, 1)
	go func() {
		text, seq, err := c.runCall(h, fn)
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

// shimCall is withCall for the shim's blocking calls that take a handle
// and return a qmpb_result (connecting, the schema's, the guest agent's).
func (c *Client) shimCall(ctx context.Context, command string,
	fn func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) libqmp.Qmpb_result) (string, error) {
	text, _, err := c.withCall(ctx, command, func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) (string, uint64, error) {
		text, err := take(fn(b, call), command)
		return text, 0, err
	})
	return text, err
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

// runCall makes a qmp_call handle on the C client and runs fn on it; h
// (nil: none) may cancel it meanwhile.
func (c *Client) runCall(h *handle, fn callFn) (string, uint64, error) {
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
	return fn(c.b, call)
}

// callOutcome reads what the last call on the handle came to (a command's
// value or an event, with its sequence number).
func callOutcome(call libqmp.Struct_SS_qmp_call, command string) (string, uint64, error) {
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

// refused reports whether the last call on the handle was refused without
// running because the handle was already cancelled: the shim's blocking
// calls run through qmp_call_run with a function that always succeeds (its
// result is the qmpb_result), so the handle's own status is an error only
// then.
func refused(call libqmp.Struct_SS_qmp_call) bool {
	return Code(libqmp.Qmp_call_status(call)) == CodeCancelled
}
