// Package qmp is the Go binding of libqmp, a client of QEMU's QMP monitor.
//
//	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//	defer cancel()
//	c, err := qmp.DialUnix(ctx, "/tmp/qmp.sock")
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer c.Close()
//	var st struct{ Status string }
//	err = c.ExecuteInto(ctx, &st, "query-status", nil)
//
// Every call that can wait takes a context.Context first.  When it is
// cancelled or its deadline passes, the call returns at once with a
// *ContextError that names the command and matches context.Canceled or
// context.DeadlineExceeded with errors.Is; the wait in C ends too, whatever
// it was (a dial and its retries, a reply, an event, the schema, a guest
// agent helper), so nothing is left waiting; a reply that comes later is
// dropped and the Client stays usable.  Options still bound a call
// (WithTimeout) or set the Client's default (WithDefaultTimeout, Dial);
// Dial's WithTimeout bounds the connect and handshake only.
//
// Commands take their arguments as a map, a struct with json tags or a
// json.RawMessage, and return the "return" value as a json.RawMessage
// (Execute) or decoded (ExecuteInto).  Per call: WithTimeout, WithFiles
// (file descriptors passed with the command; the files stay the caller's)
// and WithOOB.
//
// Schema: SchemaHas asks the server's schema with libvirt-style query
// strings, and validation checks commands before they are sent:
//
//	ok, err := c.SchemaHas(ctx, "blockdev-add/arg-type/+file/aio/^io_uring")
//	err = c.SetValidation(ctx, qmp.Validate|qmp.DenyDeprecated)
//	_, err = c.Execute(ctx, "blockdev-add", args) // a mistake: CodeInvalid, never sent
//	_, err = c.Execute(ctx, "drive-backup", args, qmp.WithValidation(0)) // this call unchecked
//	s, err := qmp.ParseSchema(saved) // offline; s.Validate(name, args, 0) returns the warnings
//
// Errors: the server's {"error": ...} is a *CommandError (errors.As);
// errors.Is(err, ErrTimeout) and errors.Is(err, ErrClosed) test for a
// timeout and for a connection that is gone, errors.Is(err, ErrInvalid) for
// a bad argument (a command validation refused, a malformed schema query);
// anything else from libqmp is an *Error with its Code and, for I/O, its
// Errno.
//
// Events: OnEvent registers a func and Events returns a channel; both are
// fed in order by one goroutine per Client.  To wait for the event a
// command causes, take EventSeq before the command and pass it to
// WaitEvent as after: an event that arrives before the wait still counts.
//
// A Client may be used from several goroutines at once.  Each call is one
// cgo call, and the error travels back in the result of that call (see
// bindings/README.md: the qmpb_ shim), so goroutines moving between OS
// threads do not matter.
package qmp
