package qmp

import (
	"context"
	"syscall"

	"libqmp.org/qmp/internal/libqmp"
)

// withCall runs fn, a blocking C call on a qmp_call handle (qmp-call.h),
// under ctx: when ctx ends first, a goroutine cancels the handle in C and
// the C call returns at once with QMP_ECANCELLED (a command not yet sent is
// not sent; a late reply is dropped).  The goroutine ends with the call,
// so nothing is left waiting, in Go or in C.  The outcome is read from the
// handle, whatever OS thread the goroutine runs on by then.
func (c *Client) withCall(ctx context.Context, command string, fn func(call libqmp.Struct_SS_qmp_call)) (text string, seq uint64, err error) {
	if err := ctx.Err(); err != nil {
		return "", 0, &ContextError{Command: command, Err: err}
	}
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
	if done := ctx.Done(); done != nil {
		finished := make(chan struct{})
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			select {
			case <-done:
				libqmp.Qmp_call_cancel(call)
			case <-finished:
			}
		}()
		// Before the handle is freed: the watcher may be cancelling it.
		defer func() { close(finished); <-exited }()
	}
	fn(call)
	code := Code(libqmp.Qmp_call_status(call))
	switch {
	case code == CodeOK:
		return libqmp.Qmp_call_result(call), libqmp.Qmp_call_seq(call), nil
	case code == CodeCancelled && libqmp.Qmp_call_is_cancelled(call) != 0:
		return "", 0, &ContextError{Command: command, Err: ctx.Err()}
	}
	e := libqmp.Qmp_call_error(call)
	if code == CodeCommand {
		return "", 0, &CommandError{Command: command, Class: e.GetQmp_class(), Desc: e.GetQmp_desc()}
	}
	return "", 0, &Error{Code: code, Errno: syscall.Errno(e.GetSys_errno()), Message: e.GetMessage()}
}
