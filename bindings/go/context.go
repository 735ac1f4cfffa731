package qmp

import (
	"context"
	"time"
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

// isTimeout: the C call's own timeout expired (CodeTimedOut).
func isTimeout(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Code == CodeTimedOut
}
