package qmp

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"

	"libqmp.org/qmp/internal/libqmp"
)

// Validation is a set of flags for checking commands against the server's
// schema before they are sent (libqmp's qmp-schema.h): SetValidation,
// WithValidation, Schema.Validate.  Validate checks that the command exists,
// that exec-oob is allowed for it, and its arguments: unknown or missing
// members, JSON types, enum values, union branches.  The use of something
// deprecated or unstable is then a warning; DenyDeprecated or DenyUnstable
// make it an error (each implies Validate).
type Validation int

// The validation flags; their values are the C library's.
const (
	Validate       Validation = 1 // QMP_VALIDATE
	DenyDeprecated Validation = 2 // QMP_VALIDATE_DENY_DEPRECATED
	DenyUnstable   Validation = 4 // QMP_VALIDATE_DENY_UNSTABLE
)

// SchemaHas reports whether the server's schema has what query names: a
// libvirt-style query string (see Schema.Has), such as
// "blockdev-add/arg-type/+file/aio/^io_uring".  The schema is fetched once
// per connection (a round trip), then kept.  A malformed query is an
// *Error with CodeInvalid; not being connected is ErrClosed.
//
// The fetch is bounded by the client's default timeout; ctx ends it
// sooner (a *ContextError).
func (c *Client) SchemaHas(ctx context.Context, query string) (bool, error) {
	if ctx == nil {
		return false, invalid("SchemaHas: nil context")
	}
	text, err := c.shimCall(ctx, "query-qmp-schema", func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) libqmp.Qmpb_result {
		return libqmp.Qmpb_client_schema_has(b, call, query)
	})
	return err == nil && text == "true", err
}

// SetValidation checks every command the Client sends from now on against
// the server's schema (flags: Validate, optionally with DenyDeprecated and
// DenyUnstable; 0 turns it off).  A command that fails is not sent: Execute
// returns an *Error with CodeInvalid and libqmp's message, such as
//
//	blockdev-add: arguments.file.aio: 'io_urin' is not one of threads, native, io_uring
//
// WithValidation overrides it for one Execute.  When connected, the schema
// is fetched now (with the Client's default timeout; ctx ends the fetch
// sooner, and the setting is then left as it was).
func (c *Client) SetValidation(ctx context.Context, flags Validation) error {
	if ctx == nil {
		return invalid("SetValidation: nil context")
	}
	if flags < 0 {
		return invalid("SetValidation: negative flags %d", int(flags))
	}
	_, err := c.shimCall(ctx, "query-qmp-schema", func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) libqmp.Qmpb_result {
		return libqmp.Qmpb_client_set_validation(b, call, int(flags))
	})
	return err
}

// Validation is the Client's validation setting (0: off).
func (c *Client) Validation() Validation {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.b == nil {
		return 0
	}
	return Validation(libqmp.Qmpb_client_get_validation(c.b))
}

// Schema returns the server's schema, fetched once per connection (option:
// WithTimeout; ctx bounds the wait too).  It stays valid after the Client
// is closed; Close it when done.
func (c *Client) Schema(ctx context.Context, opts ...Option) (*Schema, error) {
	if ctx == nil {
		return nil, invalid("Schema: nil context")
	}
	st := collect(opts)
	if err := st.noFiles("Schema"); err != nil {
		return nil, err
	}
	// The fetch makes the holder; when the caller gave up waiting (ctx), the
	// fetch frees it, else the caller takes it.  A fetch that never runs
	// (ctx ended before it started) makes none.
	var got libqmp.Qmpb_schema
	var state atomic.Int32 // 0 fetching, 1 fetched, 2 abandoned by the caller
	_, _, err := c.withCall(ctx, "query-qmp-schema", func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) (string, uint64, error) {
		h := libqmp.Qmpb_schema_new()
		if h == nil || h.Swigcptr() == 0 {
			return "", 0, &Error{Code: CodeNoMemory, Message: CodeNoMemory.String()}
		}
		if _, err := take(libqmp.Qmpb_client_get_schema(b, call, h, st.timeoutMS()), "query-qmp-schema"); err != nil {
			libqmp.DeleteQmpb_schema(h)
			return "", 0, err
		}
		got = h
		if !state.CompareAndSwap(0, 1) {
			libqmp.DeleteQmpb_schema(h)
		}
		return "", 0, nil
	})
	if state.CompareAndSwap(0, 2) {
		return nil, err // no holder, or the fetch frees it
	}
	// Fetched; err is ctx's when it ended just as the fetch did.
	h := got
	if err != nil {
		libqmp.DeleteQmpb_schema(h)
		return nil, err
	}
	return newSchema(h), nil
}

// Schema is a QMP schema, the server's answer to query-qmp-schema: from
// Client.Schema or, offline, ParseSchema.  Its methods may be called from
// several goroutines at once.  Close releases it; a finalizer does if it
// is forgotten (the garbage collector does not see its C memory, some 640
// KiB, so ParseSchema collects when many parsed schemas are left open).
type Schema struct {
	// Every call into C holds mu shared; Close frees the holder holding it
	// exclusively.
	mu     sync.RWMutex
	h      libqmp.Qmpb_schema // nil once closed
	parsed bool               // from ParseSchema: counted in openParsed

	closeOnce sync.Once
}

func newSchema(h libqmp.Qmpb_schema) *Schema {
	s := &Schema{h: h}
	runtime.SetFinalizer(s, (*Schema).Close)
	return s
}

// The garbage collector does not see a schema's C memory (some 640 KiB for
// QEMU 7.2's), and cannot be told about it: a loop that leaves schemas to
// the finalizer piles them up until a collection that the Go heap alone
// may not start for a long time (1,000 ParseSchema grew the resident size
// by 820 MiB with a collector far away).  So the schemas from ParseSchema
// that are still open are counted, and ParseSchema collects (runtime.GC,
// whose finalizers then close the unreachable ones) when they reach a
// limit, like the collector's own pacing: at least parsedGCMin (about
// 20 MiB of C memory), and twice the count at the last collection, so that
// a program that keeps many schemas on purpose pays for few collections.
// A schema from Client.Schema is the connection's, kept while connected,
// and is not counted.
const parsedGCMin = 32

var openParsed struct {
	sync.Mutex
	n    int // schemas from ParseSchema not yet closed
	next int // collect when n reaches it
}

// parsedOpened counts a new parsed schema; it reports whether to collect now.
func parsedOpened() bool {
	openParsed.Lock()
	defer openParsed.Unlock()
	openParsed.n++
	if openParsed.n < parsedGCMin || openParsed.n < openParsed.next {
		return false
	}
	openParsed.next = 2 * openParsed.n
	return true
}

// parsedClosed uncounts a parsed schema (Close or the finalizer).  The limit
// comes down with the count, so that once the collected schemas are
// finalized the next collection is parsedGCMin away again.
func parsedClosed() {
	openParsed.Lock()
	defer openParsed.Unlock()
	openParsed.n--
	if lim := 2 * openParsed.n; openParsed.next > lim {
		openParsed.next = lim
	}
}

// ParseSchema makes a Schema from query-qmp-schema's return value (a JSON
// array of SchemaInfo objects, say saved from a QEMU binary earlier) or
// from a whole reply {"return": [...]}, to check commands offline.  Data
// that is not a valid schema is an *Error with CodeInvalid.
func ParseSchema(data []byte) (*Schema, error) {
	h := libqmp.Qmpb_schema_new()
	if h == nil || h.Swigcptr() == 0 {
		return nil, &Error{Code: CodeNoMemory, Message: CodeNoMemory.String()}
	}
	if _, err := take(libqmp.Qmpb_schema_load(h, string(data)), ""); err != nil {
		libqmp.DeleteQmpb_schema(h)
		return nil, err
	}
	if parsedOpened() {
		runtime.GC()
	}
	s := newSchema(h)
	s.parsed = true
	return s, nil
}

// Close releases the schema; later calls fail with CodeInvalid.  Closing
// twice is harmless.
func (s *Schema) Close() error {
	s.closeOnce.Do(func() {
		runtime.SetFinalizer(s, nil)
		s.mu.Lock()
		libqmp.DeleteQmpb_schema(s.h)
		s.h = nil
		s.mu.Unlock()
		if s.parsed {
			parsedClosed()
		}
	})
	return nil
}

func (s *Schema) call(fn func(h libqmp.Qmpb_schema) libqmp.Qmpb_result) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return "", &Error{Code: CodeInvalid, Message: "the schema is closed"}
	}
	return take(fn(s.h), "")
}

func (s *Schema) decode(v any, fn func(h libqmp.Qmpb_schema) libqmp.Qmpb_result) error {
	text, err := s.call(fn)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(text), v)
}

// Has reports whether query holds.  A query is a name (a command, event or
// type) followed by components separated by "/":
//
//	arg-type, ret-type   a command's or event's arguments, a command's return type
//	member, *member      a member of the object reached (*: it must be optional)
//	+variant             the branch of a union whose tag has this value
//	^value               the enum reached has this value
//	!type                the type reached is this built-in (str, int, ...)
//	$feature             the thing reached has this feature
//
// For example "blockdev-add/arg-type/+file/aio/^io_uring" or
// "x-debug-query-block-graph/$unstable".  A malformed query is an *Error
// with CodeInvalid, never false.
func (s *Schema) Has(query string) (bool, error) {
	text, err := s.call(func(h libqmp.Qmpb_schema) libqmp.Qmpb_result {
		return libqmp.Qmpb_schema_has(h, query)
	})
	return text == "true", err
}

func (s *Schema) list(what int) ([]string, error) {
	var names []string
	err := s.decode(&names, func(h libqmp.Qmpb_schema) libqmp.Qmpb_result {
		return libqmp.Qmpb_schema_list(h, what)
	})
	return names, err
}

// Commands lists the names of the schema's commands, sorted.
func (s *Schema) Commands() ([]string, error) { return s.list(libqmp.QMP_SCHEMA_COMMANDS) }

// Events lists the names of the schema's events, sorted.
func (s *Schema) Events() ([]string, error) { return s.list(libqmp.QMP_SCHEMA_EVENTS) }

// Argument is one argument of a command or event (Schema.Arguments).
type Argument struct {
	Name string `json:"name"`
	// Type is a readable rendering: a built-in (str, int, number, bool,
	// null, any), "enum", "object", "[T]" for an array, "A|B" for an
	// alternate.
	Type     string   `json:"type"`
	Optional bool     `json:"optional"`
	Values   []string `json:"values,omitempty"`   // an enum's values (also in an array or alternate)
	Features []string `json:"features,omitempty"` // e.g. "deprecated"
	// A member of a union's branch: the tag's name and the value that
	// selects the branch (e.g. "driver", "file").
	Tag     string `json:"tag,omitempty"`
	Variant string `json:"variant,omitempty"`
}

// Arguments lists the arguments of a command or event in the schema's
// order: the base members, then each union branch's members with their Tag
// and Variant.  An unknown name is an *Error with CodeInvalid.
func (s *Schema) Arguments(name string) ([]Argument, error) {
	var args []Argument
	err := s.decode(&args, func(h libqmp.Qmpb_schema) libqmp.Qmpb_result {
		return libqmp.Qmpb_schema_arguments(h, name)
	})
	return args, err
}

// TypeInfo is a command, event or type with every type it refers to
// resolved (Schema.Describe).  A command has MetaType "command",
// Arguments, Returns and AllowOOB; an event MetaType "event" and
// Arguments; a type its Type ("enum", "array", "alternate", "object" or a
// built-in such as "str") and what that kind has.
type TypeInfo struct {
	Name      string    `json:"name,omitempty"`
	MetaType  string    `json:"meta-type,omitempty"`
	Arguments *TypeInfo `json:"arguments,omitempty"`
	Returns   *TypeInfo `json:"returns,omitempty"`
	AllowOOB  bool      `json:"allow-oob,omitempty"`

	Type          string               `json:"type,omitempty"`
	Values        []string             `json:"values,omitempty"`         // enum
	ValueFeatures map[string][]string  `json:"value-features,omitempty"` // enum: features of values
	Element       *TypeInfo            `json:"element,omitempty"`        // array
	Alternatives  []*TypeInfo          `json:"alternatives,omitempty"`   // alternate
	Members       []Member             `json:"members,omitempty"`        // object
	Tag           string               `json:"tag,omitempty"`            // object union: the tag member
	Variants      map[string]*TypeInfo `json:"variants,omitempty"`       // object union: tag value -> its branch, an object
	// Recursive marks an object already being expanded further up (a cycle).
	Recursive bool     `json:"recursive,omitempty"`
	Features  []string `json:"features,omitempty"`
}

// Member is a member of an object type.
type Member struct {
	Name     string    `json:"name"`
	Optional bool      `json:"optional"`
	Type     *TypeInfo `json:"type"`
	Features []string  `json:"features,omitempty"`
}

// Describe resolves a command, event or type.  An unknown name is an
// *Error with CodeInvalid.
func (s *Schema) Describe(name string) (*TypeInfo, error) {
	var info TypeInfo
	if err := s.decode(&info, func(h libqmp.Qmpb_schema) libqmp.Qmpb_result {
		return libqmp.Qmpb_schema_describe(h, name)
	}); err != nil {
		return nil, err
	}
	return &info, nil
}

// DescribeJSON is Describe as libqmp's JSON (what `qmpctl schema NAME` prints).
func (s *Schema) DescribeJSON(name string) (json.RawMessage, error) {
	text, err := s.call(func(h libqmp.Qmpb_schema) libqmp.Qmpb_result {
		return libqmp.Qmpb_schema_describe(h, name)
	})
	if err != nil {
		return nil, err
	}
	return json.RawMessage(text), nil
}

// Validate checks the command name with args (as for Execute) against the
// schema without sending it; flags may add DenyDeprecated and DenyUnstable
// (Validate is implied).  It returns the warnings (uses of deprecated or
// unstable things; none: empty), or an *Error with CodeInvalid and
// libqmp's message when the command is not valid.
func (s *Schema) Validate(name string, args any, flags Validation) ([]string, error) {
	text, err := encodeCommand(name, args)
	if err != nil {
		return nil, err
	}
	return s.ValidateJSON([]byte(text), flags)
}

// ValidateJSON is Validate for a command made by hand, {"execute": ...,
// "arguments": ...} (or "exec-oob").
func (s *Schema) ValidateJSON(command []byte, flags Validation) ([]string, error) {
	if flags < 0 {
		return nil, invalid("Validate: negative flags %d", int(flags))
	}
	warnings := []string{}
	err := s.decode(&warnings, func(h libqmp.Qmpb_schema) libqmp.Qmpb_result {
		return libqmp.Qmpb_schema_validate(h, string(command), int(flags|Validate))
	})
	if err != nil {
		return nil, err
	}
	return warnings, nil
}
