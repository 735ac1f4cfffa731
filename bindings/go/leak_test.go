package qmp_test

import (
	"bufio"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"libqmp.org/qmp"
)

func vmRSSKiB(t *testing.T) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatalf("cannot measure RSS: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := s.Text(); strings.HasPrefix(line, "VmRSS:") {
			rest := strings.TrimPrefix(line, "VmRSS:")
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// 10,000 executes (with command errors, events and waits among them) keep
// the resident size flat: every qmpb_result is deleted.  The warm-up and the
// Go runtime account for about 1 MiB of growth; a leak of the results for
// some 30 MiB.
func TestRSSFlat(t *testing.T) {
	const calls = 10000
	const slackKiB = 4096
	c := startQEMU(t).dial()
	c.OnEvent("", func(qmp.Event) {})
	round := func(i int) {
		// Every other call has a 6 KiB answer, so that a result not
		// deleted would show: 10,000 of them are 30 MiB.
		if i%2 == 0 {
			if ret, err := c.Execute(bg, "query-commands", nil); err != nil || len(ret) < 1000 {
				t.Fatal(err)
			}
		} else {
			var st struct{ Status string }
			if err := c.ExecuteInto(bg, &st, "query-status", map[string]any{}); err != nil {
				t.Fatal(err)
			}
		}
		if i%10 == 0 {
			var ce *qmp.CommandError
			if _, err := c.Execute(bg, "no-such-command", nil); !errors.As(err, &ce) {
				t.Fatal(err)
			}
		}
		if i%100 == 0 {
			seq := c.EventSeq()
			if _, err := c.Execute(bg, "stop", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitEvent(bg, "STOP", nil, seq, qmp.WithTimeout(5*time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Execute(bg, "cont", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < 2000; i++ { // warm-up: caches, buffers, the Go heap
		round(i)
	}
	debug.FreeOSMemory() // a GC that also returns the freed heap to the system
	before := vmRSSKiB(t)
	for i := 0; i < calls; i++ {
		round(i)
	}
	debug.FreeOSMemory() // a GC that also returns the freed heap to the system
	after := vmRSSKiB(t)
	t.Logf("VmRSS over %d executes: %d KiB before, %d KiB after (%+d KiB)", calls, before, after, after-before)
	if after-before > slackKiB {
		t.Fatalf("VmRSS grew by %d KiB over %d executes (limit %d KiB)", after-before, calls, slackKiB)
	}
}

// 10,000 rounds of schema calls (SchemaHas, refused executes, Schema,
// Validate with warnings and errors, Arguments) and 1,000 ParseSchema keep
// the resident size flat: every qmpb_schema is deleted, by Close or by the
// finalizer.
func TestRSSFlatSchema(t *testing.T) {
	const calls = 10000
	const slackKiB = 4096
	c := startQEMU(t).dial()
	backup := map[string]any{"device": "d0", "target": "/nonexistent", "sync": "full"}
	bad := map[string]any{"driver": "qcow2", "node-name": "q0",
		"file": map[string]any{"driver": "file", "filename": "/dev/null", "aio": "io_urin"}}
	round := func(i int) {
		if ok, err := c.SchemaHas(bg, "blockdev-add/arg-type/+file/aio/^io_uring"); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if _, err := c.SchemaHas(bg, "blockdev-add//aio"); !errors.Is(err, qmp.ErrInvalid) {
			t.Fatal(err)
		}
		if _, err := c.Execute(bg, "blockdev-add", bad, qmp.WithValidation(qmp.Validate)); !errors.Is(err, qmp.ErrInvalid) {
			t.Fatal(err)
		}
		s, err := c.Schema(bg)
		if err != nil {
			t.Fatal(err)
		}
		if w, err := s.Validate("drive-backup", backup, 0); len(w) != 1 || err != nil {
			t.Fatal(w, err)
		}
		if _, err := s.Validate("blockdev-add", bad, 0); !errors.Is(err, qmp.ErrInvalid) {
			t.Fatal(err)
		}
		if _, err := s.Arguments("drive-backup"); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			s.Close()
		} // else: the finalizer's
	}
	for i := 0; i < 1000; i++ {
		round(i)
	}
	settle()
	before := vmRSSKiB(t)
	for i := 0; i < calls; i++ {
		round(i)
	}
	settle()
	after := vmRSSKiB(t)
	t.Logf("VmRSS over %d rounds of schema calls: %d KiB before, %d KiB after (%+d KiB)", calls, before, after, after-before)
	if after-before > slackKiB {
		t.Fatalf("VmRSS grew by %d KiB over %d rounds (limit %d KiB)", after-before, calls, slackKiB)
	}

	// One OS thread for the parses: spread over several, glibc's per-thread
	// malloc arenas would each keep a schema's worth of freed memory (a
	// plateau of some 10 MiB, not a leak: MALLOC_ARENA_MAX=1 shows it flat).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	text, err := c.Execute(bg, "query-qmp-schema", nil)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(i int) {
		s, err := qmp.ParseSchema(text)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Has("STOP"); !ok {
			t.Fatal("no STOP")
		}
		if i%2 == 0 {
			s.Close()
		} else if i%50 == 1 {
			runtime.GC() // the C memory is invisible to the GC: collect now and then
		}
	}
	for i := 0; i < 300; i++ {
		parse(i)
	}
	settle()
	before = vmRSSKiB(t)
	for i := 0; i < 1000; i++ {
		parse(i)
	}
	settle()
	after = vmRSSKiB(t)
	t.Logf("VmRSS over 1000 ParseSchema: %d KiB before, %d KiB after (%+d KiB)", before, after, after-before)
	if after-before > slackKiB {
		t.Fatalf("VmRSS grew by %d KiB over 1000 ParseSchema (limit %d KiB)", after-before, slackKiB)
	}
}

// settle collects the garbage and lets the finalizers it queued run (they
// run in a goroutine of their own, after the collection).
func settle() {
	runtime.GC()
	time.Sleep(100 * time.Millisecond)
	debug.FreeOSMemory()
}

// 1,000 ParseSchema never closed, and no runtime.GC in the loop.  The Go
// collector does not see a schema's C memory (some 640 KiB); with a small
// Go heap, a parse's Go garbage (the text's copy) starts collections often
// enough, but with the next collection far away (a large heap), nothing
// would run the finalizers before 820 MiB had piled up.  ParseSchema
// counts the parsed schemas still open and collects when many are (see
// schema.go): the resident size grows by some 16 MiB either way.
func TestRSSUnclosedParseSchema(t *testing.T) {
	text, err := os.ReadFile(testData(t, "qemu-7.2", "query-qmp-schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("small heap", func(t *testing.T) { unclosedParses(t, text) })
	// As in a program with a large Go heap, where the collector's next
	// cycle is far away (GOGC=100 with a 1 GiB heap: 1 GiB of allocations):
	// a parse's Go garbage (the text's copy, some 200 KiB) alone would not
	// start one within the loop.
	t.Run("collector far away", func(t *testing.T) {
		defer debug.SetGCPercent(debug.SetGCPercent(100000))
		unclosedParses(t, text)
	})
	// Schemas kept on purpose cost few collections: the limit doubles.
	t.Run("kept", func(t *testing.T) {
		defer debug.SetGCPercent(debug.SetGCPercent(100000))
		var stats runtime.MemStats
		runtime.ReadMemStats(&stats)
		gcs := stats.NumGC
		kept := make([]*qmp.Schema, 0, 200)
		for i := 0; i < 200; i++ {
			s, err := qmp.ParseSchema(text)
			if err != nil {
				t.Fatal(err)
			}
			kept = append(kept, s)
		}
		runtime.ReadMemStats(&stats)
		for _, s := range kept {
			s.Close()
		}
		t.Logf("200 ParseSchema kept open: %d GCs", stats.NumGC-gcs)
		if n := stats.NumGC - gcs; n > 6 { // at 32, 64 and 128 open
			t.Fatalf("%d collections for 200 schemas kept open", n)
		}
	})
}

func unclosedParses(t *testing.T, text []byte) {
	// One OS thread for the parses, as in TestRSSFlatSchema (malloc arenas).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := 0; i < 20; i++ {
		s, err := qmp.ParseSchema(text)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	settle()
	before := vmRSSKiB(t)
	peak := before
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	gcs := stats.NumGC
	for i := 0; i < 1000; i++ {
		s, err := qmp.ParseSchema(text)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Has("STOP"); !ok {
			t.Fatal("no STOP")
		}
		if i%20 == 0 {
			if rss := vmRSSKiB(t); rss > peak {
				peak = rss
			}
		}
	}
	after := vmRSSKiB(t)
	if after > peak {
		peak = after
	}
	runtime.ReadMemStats(&stats)
	t.Logf("VmRSS over 1000 unclosed ParseSchema: %d KiB before, %d KiB after, peak %d KiB (%+d KiB; %d GCs)",
		before, after, peak, peak-before, stats.NumGC-gcs)
	const limitKiB = 150 * 1024
	if peak-before > limitKiB {
		t.Fatalf("VmRSS grew by %d KiB over 1000 unclosed ParseSchema (limit %d KiB)", peak-before, limitKiB)
	}
}
