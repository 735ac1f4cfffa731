package qmp

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"libqmp.org/qmp/internal/libqmp"
)

// Event is an asynchronous message from QEMU, such as STOP or JOB_STATUS_CHANGE.
type Event struct {
	Name      string
	Data      json.RawMessage // the event's "data"; nil when it has none
	Timestamp time.Time       // when QEMU sent it (its "timestamp")
	// Seq numbers the connection's events from 1 (libqmp's sequence), as
	// EventSeq counts them: set for events given to handlers and channels
	// and for those WaitEvent returns.
	Seq  uint64
	JSON json.RawMessage // the whole event as QEMU sent it
}

// Decode decodes the event's data into v.
func (e Event) Decode(v any) error {
	if e.Data == nil {
		return json.Unmarshal([]byte("{}"), v)
	}
	return json.Unmarshal(e.Data, v)
}

func parseEvent(text string, seq uint64) (Event, error) {
	var m struct {
		Event     string          `json:"event"`
		Data      json.RawMessage `json:"data"`
		Timestamp struct {
			Seconds      int64 `json:"seconds"`
			Microseconds int64 `json:"microseconds"`
		} `json:"timestamp"`
	}
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return Event{}, &Error{Code: CodeProtocol, Message: "an event that is not JSON: " + err.Error()}
	}
	return Event{
		Name:      m.Event,
		Data:      m.Data,
		Timestamp: time.Unix(m.Timestamp.Seconds, m.Timestamp.Microseconds*1000),
		Seq:       seq,
		JSON:      json.RawMessage(text),
	}, nil
}

// EventSeq is the sequence number of the newest event received so far.  Take
// it before sending a command, and give it to WaitEvent as after: the event
// the command causes cannot be missed, even when it arrives before the wait.
func (c *Client) EventSeq() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.b == nil {
		return 0
	}
	return libqmp.Qmpb_client_event_seq(c.b)
}

// WaitEvent waits for the first event with a sequence number above after,
// named name ("": any), whose data contains match (a map[string]any or
// struct compared recursively; nil: any data).  Events already received
// count, up to the last 1024 (WithEventBuffer).  ctx ends the wait
// (a *ContextError); so does the timeout (option WithTimeout: < 0 forever;
// without it, the client's default), with ErrTimeout.  The event's Seq is
// its sequence number: pass it as after to wait for the next one without
// missing any.
func (c *Client) WaitEvent(ctx context.Context, name string, match any, after uint64, opts ...Option) (Event, error) {
	if ctx == nil {
		return Event{}, invalid("WaitEvent: nil context")
	}
	s := collect(opts)
	if err := s.noFiles("WaitEvent"); err != nil {
		return Event{}, err
	}
	matchJSON := ""
	if match != nil {
		m, err := json.Marshal(match)
		if err != nil {
			return Event{}, invalid("WaitEvent: match: %v", err)
		}
		if string(m) != "null" {
			matchJSON = string(m)
		}
	}
	text, seq, err := c.withCall(ctx, "", func(_ libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) (string, uint64, error) {
		libqmp.Qmpb_call_wait_event(call, name, matchJSON, after, s.timeoutMS())
		return callOutcome(call, "")
	})
	if err != nil {
		return Event{}, err
	}
	return parseEvent(text, seq)
}

// Handlers and channels: one goroutine per Client (the pump), started by the
// first OnEvent or Events, takes the events from the C client's ring in
// order of their sequence numbers (a wait on a qmp_call handle, as
// WaitEvent's) and hands them out.  Events that leave the ring (1024 by
// default, WithEventBuffer) before the pump takes them, while a handler is
// slow, are counted in EventsDropped.

// channelBuffer is the buffer of a channel from Events.
const channelBuffer = 256

type subscription struct {
	name string // "": every event
	fn   func(Event)
	ch   chan Event
}

type events struct {
	mu      sync.Mutex
	subs    map[*subscription]struct{}
	order   []*subscription // in registration order
	started bool
	ended   bool   // the pump has ended: no more events; channels closed
	dropped uint64 // events a full channel did not take, or that left the ring unread
	after   uint64 // the pump's start: the sequence number of the newest event before it
}

func (ev *events) init() { ev.subs = map[*subscription]struct{}{} }

// OnEvent calls fn for every event named name ("": every event) that
// arrives from now on, in order, in the Client's event goroutine, one at a
// time (a slow fn delays the others).  fn may call the Client.  stop
// unregisters it; after it returns, fn is not called again unless it is
// running right then.
func (c *Client) OnEvent(name string, fn func(Event)) (stop func()) {
	return c.subscribe(&subscription{name: name, fn: fn})
}

// Events returns a channel that receives the events named name ("": every
// event) from now on.  Like os/signal.Notify, sending never blocks: when the
// channel's buffer (256) is full the event is dropped and counted in
// EventsDropped.  The channel is closed by StopEvents, Close, or when the
// connection ends.
func (c *Client) Events(name string) <-chan Event {
	s := &subscription{name: name, ch: make(chan Event, channelBuffer)}
	c.subscribe(s)
	return s.ch
}

// StopEvents stops and closes a channel from Events.
func (c *Client) StopEvents(ch <-chan Event) {
	c.ev.mu.Lock()
	defer c.ev.mu.Unlock()
	for _, s := range c.ev.order {
		if s.ch != nil && (<-chan Event)(s.ch) == ch {
			c.ev.removeLocked(s)
			return
		}
	}
}

// EventsDropped counts the events that handlers or channels did not get:
// gone from the client's ring before the pump took them, or offered to a
// full channel.
func (c *Client) EventsDropped() uint64 {
	c.ev.mu.Lock()
	defer c.ev.mu.Unlock()
	return c.ev.dropped
}

func (c *Client) subscribe(s *subscription) (stop func()) {
	ev := &c.ev
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if !ev.ended && !ev.started {
		// The pump starts after the newest event now: no event after
		// this returns is missed.
		ev.started = true
		ev.after = c.EventSeq()
		go c.pump(ev.after)
	}
	if ev.ended {
		if s.ch != nil {
			close(s.ch)
		}
		return func() {}
	}
	ev.subs[s] = struct{}{}
	ev.order = append(ev.order, s)
	return func() {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		ev.removeLocked(s)
	}
}

func (ev *events) removeLocked(s *subscription) {
	if _, ok := ev.subs[s]; !ok {
		return
	}
	delete(ev.subs, s)
	for i, o := range ev.order {
		if o == s {
			ev.order = append(ev.order[:i:i], ev.order[i+1:]...)
			break
		}
	}
	if s.ch != nil {
		close(s.ch)
	}
}

// stopAll ends every subscription: the pump has ended or the Client closed.
func (ev *events) stopAll() {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.ended = true
	for len(ev.order) > 0 {
		ev.removeLocked(ev.order[0])
	}
}

// pump takes the events after seq from the C client's ring, in order,
// until the connection ends (Close ends its wait).
func (c *Client) pump(seq uint64) {
	defer c.ev.stopAll()
	for {
		text, next, err := c.withCall(context.Background(), "", func(_ libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) (string, uint64, error) {
			libqmp.Qmpb_call_wait_event(call, "", "", seq, -1)
			return callOutcome(call, "")
		})
		if err != nil {
			if e, ok := err.(*Error); ok && e.Code == CodeNoMemory {
				continue
			}
			return // closed, or the peer hung up
		}
		if next > seq+1 {
			c.ev.mu.Lock()
			c.ev.dropped += next - seq - 1
			c.ev.mu.Unlock()
		}
		seq = next
		e, err := parseEvent(text, seq)
		if err != nil {
			continue
		}
		c.ev.dispatch(e)
	}
}

// dispatch gives e to the subscriptions registered now, in order.  Handlers
// run without ev.mu held: they may subscribe, stop, or close the Client.
func (ev *events) dispatch(e Event) {
	ev.mu.Lock()
	subs := append([]*subscription(nil), ev.order...)
	ev.mu.Unlock()
	for _, s := range subs {
		if s.name != "" && s.name != e.Name {
			continue
		}
		if s.fn != nil {
			ev.mu.Lock()
			_, live := ev.subs[s]
			ev.mu.Unlock()
			if live {
				s.fn(e)
			}
			continue
		}
		ev.mu.Lock()
		if _, live := ev.subs[s]; live {
			select {
			case s.ch <- e:
			default:
				ev.dropped++
			}
		}
		ev.mu.Unlock()
	}
}
