package qmp

import (
	"context"
	"time"

	"libqmp.org/qmp/internal/libqmp"
)

// ContextError is the error of a call whose context was cancelled or
// reached its deadline before the answer came: errors.Is(err,
// context.Canceled) or errors.Is(err, context.DeadlineExceeded) holds (the
// latter also matches ErrTimeout).  Command names the call ("" for a dial
// or a wait for an event).  A reply that comes later is dropped; the
// Client stays usable.
type ContextError struct {
	Command string
	Err     error // ctx.Err()
}

func (e *ContextError) Error() string {
	if e.Command != "" {
		return "qmp: " + e.Command + ": " + e.Err.Error()
	}
	return "qmp: " + e.Err.Error()
}

// Unwrap gives the context's error.
func (e *ContextError) Unwrap() error { return e.Err }

// Is makes an expired deadline match ErrTimeout too.
func (e *ContextError) Is(target error) bool {
	return target == ErrTimeout && e.Err == context.DeadlineExceeded
}

// defaultTimeout is the C client's default timeout when Dial sets none.
const defaultTimeout = 30 * time.Second

// clampMS is the C timeout for a call whose own timeout is ms (the shim's
// convention: 0 the client's default def, -1 forever) under ctx: ctx's
// deadline when that comes first, so that the C side gives up when the
// caller has.
func clampMS(ctx context.Context, ms int, def time.Duration) int {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ms
	}
	left := time.Until(deadline)
	if left <= 0 {
		left = time.Millisecond
	}
	own := time.Duration(ms) * time.Millisecond
	switch {
	case ms == 0:
		own = def
	case ms < 0:
		own = -1
	}
	if own >= 0 && own <= left {
		return ms
	}
	leftMS := (left + time.Millisecond - 1) / time.Millisecond
	if leftMS > 1<<31-1 {
		return -1
	}
	return int(leftMS)
}

// waitCtx runs fn (a blocking call into C that frees what it gets) in its
// own goroutine and returns its error, or the context's as soon as ctx is
// done: then fn goes on until C gives up (at the deadline, the call's own
// timeout, the reply, or Close) and its result is dropped.
func waitCtx(ctx context.Context, command string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return &ContextError{Command: command, Err: err}
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		// A C timeout set from the deadline is the context's (C's clock
		// may fire a moment before ctx's).
		if err != nil && isTimeout(err) {
			if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < deadlineSlack {
				<-ctx.Done()
				return &ContextError{Command: command, Err: ctx.Err()}
			}
		}
		return err
	case <-ctx.Done():
		return &ContextError{Command: command, Err: ctx.Err()}
	}
}

// deadlineSlack: a C timeout this close to ctx's deadline was the deadline's.
const deadlineSlack = 20 * time.Millisecond

func isTimeout(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Code == CodeTimedOut
}

// callCtx is call under ctx, with the call's own timeout ms (0: the
// Client's default) bounded by ctx's deadline; run receives the C timeout.
func (c *Client) callCtx(ctx context.Context, command string, ms int,
	run func(b libqmp.Struct_SS_qmpb_client, timeoutMS int) libqmp.Qmpb_result) (string, error) {
	var text string
	err := waitCtx(ctx, command, func() error {
		var err error
		text, err = c.call(command, func(b libqmp.Struct_SS_qmpb_client) libqmp.Qmpb_result {
			return run(b, clampMS(ctx, ms, c.defTimeout))
		})
		return err
	})
	if err != nil {
		return "", err
	}
	return text, nil
}
