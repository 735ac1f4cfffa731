package qmp_test

import (
	"errors"
	"testing"
	"time"

	"libqmp.org/qmp"
)

func receive(t *testing.T, ch <-chan qmp.Event, what string) qmp.Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no event within 10 s", what)
	}
	panic("unreachable")
}

func TestEventHandler(t *testing.T) {
	c := startQEMU(t).dial()
	got := make(chan qmp.Event, 10)
	stop := c.OnEvent("STOP", func(e qmp.Event) {
		// A handler may call the client.
		if _, err := c.Execute(bg, "query-status", nil); err != nil {
			t.Errorf("Execute in a handler: %v", err)
		}
		got <- e
	})
	all := make(chan qmp.Event, 10)
	c.OnEvent("", func(e qmp.Event) { all <- e })

	if _, err := c.Execute(bg, "stop", nil); err != nil {
		t.Fatal(err)
	}
	e := receive(t, got, "STOP handler")
	if e.Name != "STOP" || e.Seq == 0 || e.Timestamp.IsZero() || len(e.JSON) == 0 {
		t.Fatalf("event %+v", e)
	}
	if e := receive(t, all, "catch-all handler"); e.Name != "STOP" {
		t.Fatalf("catch-all got %s first", e.Name)
	}

	stop()
	if _, err := c.Execute(bg, "cont", nil); err != nil {
		t.Fatal(err)
	}
	if e := receive(t, all, "catch-all handler"); e.Name != "RESUME" {
		t.Fatalf("catch-all got %s, want RESUME", e.Name)
	}
	if _, err := c.Execute(bg, "stop", nil); err != nil {
		t.Fatal(err)
	}
	receive(t, all, "catch-all handler")
	select {
	case e := <-got:
		t.Fatalf("a stopped handler got %s", e.Name)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestEventChannel(t *testing.T) {
	c := startQEMU(t).dial()
	resumes := c.Events("RESUME")
	stops := c.Events("STOP")
	for _, cmd := range []string{"stop", "cont", "stop"} {
		if _, err := c.Execute(bg, cmd, nil); err != nil {
			t.Fatal(err)
		}
	}
	s1, r1, s2 := receive(t, stops, "STOP"), receive(t, resumes, "RESUME"), receive(t, stops, "STOP")
	if !(s1.Seq < r1.Seq && r1.Seq < s2.Seq) {
		t.Fatalf("out of order: %d %d %d", s1.Seq, r1.Seq, s2.Seq)
	}
	c.StopEvents(stops)
	if _, ok := <-stops; ok {
		t.Fatal("a stopped channel is still open")
	}
	c.Close()
	within(t, 5*time.Second, "channel closed by Close", func() {
		for range resumes {
		}
	})
	// After Close: a channel that is closed at once.
	if _, ok := <-c.Events(""); ok {
		t.Fatal("Events after Close gave an event")
	}
}

func TestWaitEvent(t *testing.T) {
	c := startQEMU(t).dial()
	seq := c.EventSeq()
	if _, err := c.Execute(bg, "stop", nil); err != nil {
		t.Fatal(err)
	}
	// The event may have arrived with the reply already: it still counts.
	time.Sleep(100 * time.Millisecond)
	e, err := c.WaitEvent(bg, "STOP", nil, seq, qmp.WithTimeout(5*time.Second))
	if err != nil || e.Name != "STOP" {
		t.Fatalf("WaitEvent: %+v, %v", e, err)
	}
	if e2, err := c.WaitEvent(bg, "STOP", nil, seq, qmp.WithTimeout(5*time.Second)); err != nil || string(e2.JSON) != string(e.JSON) {
		t.Fatalf("the same wait again: %+v, %v", e2, err)
	}
	if _, err := c.WaitEvent(bg, "STOP", nil, c.EventSeq(), qmp.WithTimeout(200*time.Millisecond)); !errors.Is(err, qmp.ErrTimeout) {
		t.Fatalf("WaitEvent for nothing: %v, want ErrTimeout", err)
	}

	// A match on the event's data: RESET's {"guest": false, "reason": ...}.
	seq = c.EventSeq()
	if _, err := c.Execute(bg, "system_reset", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitEvent(bg, "RESET", map[string]any{"guest": true}, seq, qmp.WithTimeout(300*time.Millisecond)); !errors.Is(err, qmp.ErrTimeout) {
		t.Fatalf("RESET with guest true: %v, want ErrTimeout", err)
	}
	e, err = c.WaitEvent(bg, "RESET", map[string]any{"guest": false}, seq, qmp.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("RESET with guest false: %v", err)
	}
	var data struct {
		Guest  bool   `json:"guest"`
		Reason string `json:"reason"`
	}
	if err := e.Decode(&data); err != nil || data.Guest || data.Reason == "" {
		t.Fatalf("RESET data %s: %+v, %v", e.Data, data, err)
	}
}

// WaitEvent gives the event's Seq, the same a handler sees, so a wait can
// go on from the event it found.
func TestWaitEventSeq(t *testing.T) {
	c := startQEMU(t).dial()
	handled := make(chan qmp.Event, 10)
	c.OnEvent("", func(e qmp.Event) { handled <- e })
	seq := c.EventSeq()
	for _, cmd := range []string{"stop", "cont"} {
		if _, err := c.Execute(bg, cmd, nil); err != nil {
			t.Fatal(err)
		}
	}
	stop, err := c.WaitEvent(bg, "STOP", nil, seq, qmp.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("WaitEvent STOP: %v", err)
	}
	resume, err := c.WaitEvent(bg, "RESUME", nil, stop.Seq, qmp.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("WaitEvent RESUME: %v", err)
	}
	if !(seq < stop.Seq && stop.Seq < resume.Seq && resume.Seq <= c.EventSeq()) {
		t.Fatalf("seqs: before %d, STOP %d, RESUME %d, now %d", seq, stop.Seq, resume.Seq, c.EventSeq())
	}
	for _, want := range []qmp.Event{stop, resume} {
		if e := receive(t, handled, want.Name); e.Name != want.Name || e.Seq != want.Seq {
			t.Fatalf("handler got %s seq %d, WaitEvent %s seq %d", e.Name, e.Seq, want.Name, want.Seq)
		}
	}
	if _, err := c.WaitEvent(bg, "RESUME", nil, resume.Seq, qmp.WithTimeout(300*time.Millisecond)); !errors.Is(err, qmp.ErrTimeout) {
		t.Fatalf("WaitEvent after the RESUME's seq: %v, want ErrTimeout", err)
	}

	// A loop that waits from each event's seq sees every one, also those
	// that arrived before the wait.
	seq = c.EventSeq()
	for i := 0; i < 3; i++ {
		for _, cmd := range []string{"stop", "cont"} {
			if _, err := c.Execute(bg, cmd, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 3; i++ {
		e, err := c.WaitEvent(bg, "RESUME", nil, seq, qmp.WithTimeout(5*time.Second))
		if err != nil || e.Seq <= seq {
			t.Fatalf("RESUME %d after seq %d: %+v, %v", i, seq, e, err)
		}
		seq = e.Seq
	}
}

// Handlers (through a channel) and waits side by side: the queue that
// feeds handlers and the ring that WaitEvent reads are independent.
func TestHandlersAndWaits(t *testing.T) {
	c := startQEMU(t).dial()
	ch := c.Events("")
	for i := 0; i < 20; i++ {
		seq := c.EventSeq()
		cmd, want := "stop", "STOP"
		if i%2 == 1 {
			cmd, want = "cont", "RESUME"
		}
		if _, err := c.Execute(bg, cmd, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitEvent(bg, want, nil, seq, qmp.WithTimeout(5*time.Second)); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if e := receive(t, ch, want); e.Name != want {
			t.Fatalf("round %d: channel got %s, want %s", i, e.Name, want)
		}
	}
	if n := c.EventsDropped(); n != 0 {
		t.Fatalf("%d events dropped", n)
	}
}
