package qmp_test

import (
	"bufio"
	"errors"
	"os"
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
		t.Skipf("no /proc/self/status: %v", err)
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
			if ret, err := c.Execute("query-commands", nil); err != nil || len(ret) < 1000 {
				t.Fatal(err)
			}
		} else {
			var st struct{ Status string }
			if err := c.ExecuteInto(&st, "query-status", map[string]any{}); err != nil {
				t.Fatal(err)
			}
		}
		if i%10 == 0 {
			var ce *qmp.CommandError
			if _, err := c.Execute("no-such-command", nil); !errors.As(err, &ce) {
				t.Fatal(err)
			}
		}
		if i%100 == 0 {
			seq := c.EventSeq()
			if _, err := c.Execute("stop", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitEvent("STOP", nil, seq, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Execute("cont", nil); err != nil {
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
