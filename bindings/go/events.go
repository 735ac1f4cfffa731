package qmp

import (
	"context"
	"encoding/json"
	"fmt"
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
	// A wait may be repeated with the same after without missing anything,
	// so under a context that can be cancelled C waits in slices and the
	// goroutine left behind by a cancel ends within one: the caller itself
	// returns at once (waitCtx).
	own := time.Duration(-1) // the wait's own bound; -1 forever
	switch ms := s.timeoutMS(); {
	case ms > 0:
		own = time.Duration(ms) * time.Millisecond
	case ms == 0:
		own = c.defTimeout
	}
	start := time.Now()
	var seq uint64
	var text string
	err := waitCtx(ctx, "", func() error {
		for {
			left := own
			if own >= 0 {
				if left = own - time.Since(start); left <= 0 {
					left = time.Millisecond
				}
			}
			slice, sliced := left, false
			if ctx.Done() != nil && (left < 0 || left > waitSlice) {
				slice, sliced = waitSlice, true
			}
			var err error
			text, err = c.call("", func(b libqmp.Struct_SS_qmpb_client) libqmp.Qmpb_result {
				r := libqmp.Qmpb_client_wait_event(b, name, matchJSON, after, clampMS(ctx, durationMS(slice), c.defTimeout))
				if r != nil && r.Swigcptr() != 0 {
					seq = r.GetSeq()
				}
				return r
			})
			if !sliced || !isTimeout(err) {
				return err
			}
			if ctx.Err() != nil {
				return err // waitCtx has returned the context's error
			}
			if own >= 0 && time.Since(start) >= own {
				return &Error{Code: CodeTimedOut, Message: fmt.Sprintf("no event within %v", own)}
			}
		}
	})
	if err != nil {
		return Event{}, err
	}
	return parseEvent(text, seq)
}

// waitSlice is the longest single C wait of a WaitEvent whose context can
// be cancelled.
const waitSlice = 250 * time.Millisecond

// Handlers and channels: one goroutine per Client (the pump), started by the
// first OnEvent or Events, takes the events that the shim queues in C and
// hands them out in order.

// queueLength bounds the events queued in C while the pump is busy in a
// handler; beyond it the oldest are dropped (EventsDropped counts them).
const queueLength = 4096

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
	dropped uint64 // events a full channel did not take
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
// queued in C beyond its limit, or offered to a full channel.
func (c *Client) EventsDropped() uint64 {
	c.ev.mu.Lock()
	n := c.ev.dropped
	c.ev.mu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.b != nil {
		n += libqmp.Qmpb_client_events_dropped(c.b)
	}
	return n
}

func (c *Client) subscribe(s *subscription) (stop func()) {
	ev := &c.ev
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if !ev.ended && !ev.started {
		// The queue starts before this returns: no event after it is missed.
		if _, err := c.call("", func(b libqmp.Struct_SS_qmpb_client) libqmp.Qmpb_result {
			return libqmp.Qmpb_client_queue_events(b, queueLength)
		}); err != nil {
			ev.ended = true
		} else {
			ev.started = true
			go c.pump()
		}
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

// pump takes the events queued in C until the connection ends.
func (c *Client) pump() {
	defer c.ev.stopAll()
	for {
		var name, text string
		var seq uint64
		_, err := c.call("", func(b libqmp.Struct_SS_qmpb_client) libqmp.Qmpb_result {
			r := libqmp.Qmpb_client_next_event(b, -1)
			if r.Swigcptr() != 0 {
				name, text, seq = r.GetName(), r.GetText(), r.GetSeq()
			}
			return r
		})
		if err != nil {
			if e, ok := err.(*Error); ok && (e.Code == CodeTimedOut || e.Code == CodeNoMemory) {
				continue
			}
			return // closed, or the peer hung up
		}
		e, err := parseEvent(text, seq)
		if err != nil {
			continue
		}
		e.Name = name
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
