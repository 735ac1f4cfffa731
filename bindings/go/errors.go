package qmp

import (
	"errors"
	"fmt"
	"syscall"

	"libqmp.org/qmp/internal/libqmp"
)

// Code is a libqmp status (qmp_status in C): 0 or negative.
type Code int

// The libqmp status codes; their values are the C library's.
const (
	CodeOK          Code = 0
	CodeInvalid     Code = -1  // bad argument or misuse
	CodeNoMemory    Code = -2  // out of memory
	CodeIO          Code = -3  // a system call failed: see Error.Errno
	CodeClosed      Code = -4  // not connected, or the peer closed the connection
	CodeTimedOut    Code = -5  // the timeout expired
	CodeProtocol    Code = -6  // the peer sent something that is not QMP
	CodeHandshake   Code = -7  // no or invalid greeting
	CodeNegotiation Code = -8  // qmp_capabilities was refused
	CodeCommand     Code = -9  // the server answered {"error": ...}: a *CommandError
	CodeTooBig      Code = -10 // a message exceeded the size or nesting limit
	CodeCancelled   Code = -11 // the call was dropped because the client was closed
	CodeDeadlock    Code = -12 // the call would wait on itself; only C's set_loop_callbacks from inside a loop callback (qmp-common.h)
)

// String is libqmp's description of the code (qmp_strerror).
func (c Code) String() string { return libqmp.Qmp_strerror(int(c)) }

// Sentinels for errors.Is.
var (
	// ErrTimeout: a call, connect or wait timed out (CodeTimedOut).
	ErrTimeout = errors.New("qmp: timed out")
	// ErrClosed: the connection is gone: the peer hung up (CodeClosed), or
	// the Client was closed, also while the call was pending (CodeCancelled).
	ErrClosed = errors.New("qmp: connection closed")
	// ErrInvalid: a bad argument or a misuse (CodeInvalid), such as a
	// command that validation refused or a malformed schema query.
	ErrInvalid = errors.New("qmp: invalid argument")
)

// Error is a failure of libqmp itself (anything but the server's answer
// {"error": ...}, which is a *CommandError).
type Error struct {
	Code    Code
	Errno   syscall.Errno // for CodeIO: the system call's errno; else 0
	Message string        // libqmp's message, saying what failed
}

func (e *Error) Error() string { return "qmp: " + e.Message }

// Is makes errors.Is(err, ErrTimeout), errors.Is(err, ErrClosed) and
// errors.Is(err, ErrInvalid) work.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.Code == CodeInvalid
	case ErrTimeout:
		return e.Code == CodeTimedOut
	case ErrClosed:
		return e.Code == CodeClosed || e.Code == CodeCancelled
	}
	return false
}

// Unwrap gives the errno of a CodeIO error, for errors.Is(err, syscall.ECONNREFUSED).
func (e *Error) Unwrap() error {
	if e.Errno != 0 {
		return e.Errno
	}
	return nil
}

// CommandError is the server's answer {"error": {"class": ..., "desc": ...}}.
type CommandError struct {
	Command string // the command that failed, when known
	Class   string // e.g. "CommandNotFound", "GenericError"
	Desc    string // the server's description
}

func (e *CommandError) Error() string {
	if e.Command != "" {
		return fmt.Sprintf("qmp: %s: %s: %s", e.Command, e.Class, e.Desc)
	}
	return fmt.Sprintf("qmp: %s: %s", e.Class, e.Desc)
}

// take reads a shim result and frees it: every qmpb_result passes through
// here exactly once.  The error was copied into the result by the same C
// call that failed, so it is this call's whatever thread Go ran it on.
func take(r libqmp.Qmpb_result, command string) (text string, err error) {
	if r == nil || r.Swigcptr() == 0 {
		return "", &Error{Code: CodeNoMemory, Message: CodeNoMemory.String()}
	}
	defer libqmp.DeleteQmpb_result(r)
	code := Code(r.GetCode())
	text = r.GetText()
	switch {
	case code == CodeOK:
		return text, nil
	case code == CodeCommand:
		return "", &CommandError{Command: command, Class: r.GetError_class(), Desc: r.GetError_desc()}
	default:
		return "", &Error{Code: code, Errno: syscall.Errno(r.GetSys_errno()), Message: r.GetMessage()}
	}
}
