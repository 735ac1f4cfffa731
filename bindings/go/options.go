package qmp

import (
	"fmt"
	"os"
	"time"

	"libqmp.org/qmp/internal/libqmp"
)

// An Option tunes a Dial (or FromConn) or a single call.  Each says where it
// applies; one that does not apply makes the call fail with CodeInvalid.
type Option func(*settings)

type settings struct {
	timeout    time.Duration
	hasTimeout bool
	defTimeout time.Duration
	hasDefault bool
	files      []*os.File
	oob        bool
	eventBuf   int
	maxMessage int
	validation Validation

	usedFiles, usedEventBuf, usedMaxMessage, usedValidation bool
}

// WithTimeout bounds a call (Execute, HMP, WaitEvent, Schema...), or for Dial the
// connect and handshake only.  d < 0 waits forever; 0 (or no WithTimeout)
// means the client's default for a call (WithDefaultTimeout) and 30 s for
// a Dial.  The call's context bounds it too: whichever ends first.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) { s.timeout, s.hasTimeout = d, true }
}

// WithDefaultTimeout (Dial only) sets the Client's default timeout: the one
// of every call that has no WithTimeout of its own (30 s unless set; d < 0
// waits forever).
func WithDefaultTimeout(d time.Duration) Option {
	return func(s *settings) { s.defTimeout, s.hasDefault = d, true }
}

// WithFiles passes open files with an Execute (SCM_RIGHTS), as for QEMU's
// getfd or add-fd; at most 16.  The files stay the caller's: libqmp sends
// copies and never closes them.
func WithFiles(files ...*os.File) Option {
	return func(s *settings) { s.files, s.usedFiles = append(s.files, files...), true }
}

// WithOOB: for Dial, negotiate the "oob" capability when the server offers
// it; for Execute, run the command out of band (needs that capability).
func WithOOB() Option {
	return func(s *settings) { s.oob = true }
}

// WithEventBuffer (Dial only) keeps the last n events for WaitEvent (1024
// unless set).
func WithEventBuffer(n int) Option {
	return func(s *settings) { s.eventBuf, s.usedEventBuf = n, true }
}

// WithMaxMessageSize (Dial only) limits the size of one message from the
// server, in bytes.
func WithMaxMessageSize(bytes int) Option {
	return func(s *settings) { s.maxMessage, s.usedMaxMessage = bytes, true }
}

// WithValidation checks commands against the server's schema before they
// are sent (see Validation): for Dial, every command of the Client (as
// SetValidation); for Execute, this command, whatever the Client's setting,
// with 0 meaning "not this one".  A command that fails the check is not
// sent and the call returns an *Error with CodeInvalid and libqmp's
// message.
func WithValidation(flags Validation) Option {
	return func(s *settings) { s.validation, s.usedValidation = flags, true }
}

func collect(opts []Option) settings {
	var s settings
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	return s
}

// timeoutMS is the shim's timeout for s: -1 forever, 0 the client's default.
func (s *settings) timeoutMS() int {
	if !s.hasTimeout {
		return 0
	}
	return durationMS(s.timeout)
}

// defaultMS is WithDefaultTimeout's d in milliseconds (-1 forever).
func (s *settings) defaultMS() int {
	if s.defTimeout == 0 {
		return int(30 * time.Second / time.Millisecond)
	}
	return durationMS(s.defTimeout)
}

func durationMS(d time.Duration) int {
	if d < 0 {
		return -1
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond // rounded up: 1ns is not "the default"
	if ms > 1<<31-1 {
		return -1
	}
	return int(ms)
}

func invalid(format string, args ...any) error {
	return &Error{Code: CodeInvalid, Message: fmt.Sprintf(format, args...)}
}

// forCall rejects the options that only Dial takes.
func (s *settings) forCall(what string) error {
	if s.usedEventBuf || s.usedMaxMessage || s.hasDefault {
		return invalid("%s: WithEventBuffer, WithMaxMessageSize and WithDefaultTimeout are for Dial", what)
	}
	return nil
}

// noFiles rejects WithFiles, WithOOB and WithValidation for calls other than Execute.
func (s *settings) noFiles(what string) error {
	if s.usedFiles || s.oob || s.usedValidation {
		return invalid("%s: WithFiles, WithOOB and WithValidation are for Dial and Execute", what)
	}
	return s.forCall(what)
}

// callValidation is qmp_exec_options.validate for s: 0 the client's
// setting, QMP_VALIDATE_OFF not this call, else the flags.
func (s *settings) callValidation() int {
	switch {
	case !s.usedValidation:
		return 0
	case s.validation == 0:
		return libqmp.QMP_VALIDATE_OFF
	}
	return int(s.validation | Validate)
}

// noFiles is settings.noFiles for a helper's options.
func noFiles(opts []Option, what string) error {
	s := collect(opts)
	return s.noFiles(what)
}
