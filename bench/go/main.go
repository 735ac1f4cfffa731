// qmp-bench-go: the go-qemu peer of the benchmarks (Debian's
// golang-github-digitalocean-go-qemu-dev, built in GOPATH mode, offline).
//
//	qmp-bench-go -socket PATH -workload rt|pipe|big|flood|clients -count N
//
// Runs one sample of one workload and prints "SAMPLE <value> [<value>]" or,
// when go-qemu cannot do it, "FAIL <reason>"; qmp-bench reads the line.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

var (
	socket   = flag.String("socket", "", "the QMP socket")
	workload = flag.String("workload", "rt", "rt, pipe, big, flood or clients")
	count    = flag.Int("count", 1000, "commands, events or clients")
	inFlight = flag.Int("inflight", 64, "goroutines issuing commands at once (pipe)")
)

func connect() *qmp.SocketMonitor {
	mon, err := qmp.NewSocketMonitor("unix", *socket, 10*time.Second)
	if err != nil {
		fail("connect: %v", err)
	}
	if err := mon.Connect(); err != nil {
		fail("handshake: %v", err)
	}
	return mon
}

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL %s\n", strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " "))
	os.Exit(0)
}

func rss() int64 {
	b, err := ioutil.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

var queryStatus = []byte(`{"execute":"query-status"}`)

// run is mon.Run with go-qemu's panics turned into errors: under an event
// flood its Run can panic ("JSON decoder out of sync") because it decodes a
// buffer that its reader goroutine is already reusing.
func run(mon *qmp.SocketMonitor, cmd []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("go-qemu panicked: %v", p)
		}
	}()
	return mon.Run(cmd)
}

func roundTrip() {
	mon := connect()
	defer mon.Disconnect()
	for i := 0; i < 10; i++ {
		if _, err := run(mon, queryStatus); err != nil {
			fail("query-status: %v", err)
		}
	}
	start := time.Now()
	for i := 0; i < *count; i++ {
		if _, err := run(mon, queryStatus); err != nil {
			fail("query-status: %v", err)
		}
	}
	fmt.Printf("SAMPLE %.3f\n", float64(time.Since(start).Nanoseconds())/1e3/float64(*count))
}

// go-qemu has no ids: Run holds a mutex from write to reply, so commands
// from many goroutines go one at a time.
func pipelined() {
	mon := connect()
	defer mon.Disconnect()
	var left int64 = int64(*count)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for g := 0; g < *inFlight; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&left, -1) >= 0 {
				if _, err := run(mon, queryStatus); err != nil {
					firstErr.Store(err.Error())
					return
				}
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		fail("query-status: %v", e)
	}
	fmt.Printf("SAMPLE %.1f\n", float64(*count)/time.Since(start).Seconds())
}

func bigReply() {
	mon := connect()
	start := time.Now()
	for i := 0; i < *count; i++ {
		out, err := run(mon, []byte(`{"execute":"query-qmp-schema"}`))
		if err != nil {
			fail("query-qmp-schema: %v", err)
		}
		if len(out) < 1000 {
			fail("query-qmp-schema: a reply of %d bytes", len(out))
		}
	}
	fmt.Printf("SAMPLE %.3f\n", float64(time.Since(start).Nanoseconds())/1e6/float64(*count))
	mon.Disconnect()
}

// go-qemu decodes every event, data included, into an Event.
func flood() {
	mon := connect()
	events, _ := mon.Events(context.Background())
	before := rss()
	done := make(chan int)
	go func() {
		n := 0
		for ev := range events {
			n++
			if ev.Event == "BENCH_END" {
				break
			}
		}
		done <- n
	}()
	start := time.Now()
	cmd := fmt.Sprintf(`{"execute":"bench-flood","arguments":{"count":%d}}`, *count)
	if _, err := run(mon, []byte(cmd)); err != nil {
		// go-qemu hands Run the scanner's buffer, which the next event may
		// already have overwritten.
		fail("bench-flood reply lost to the events behind it: %v", err)
	}
	n := <-done
	elapsed := time.Since(start)
	if n != *count {
		fail("received %d of %d events", n, *count)
	}
	fmt.Printf("SAMPLE %.1f %d\n", float64(n)/elapsed.Seconds(), rss()-before)
	os.Exit(0) // Disconnect would wait for the listener, which waits on the events channel
}

func clients() {
	warm := connect()
	defer warm.Disconnect()
	before := rss()
	mons := make([]*qmp.SocketMonitor, 0, *count)
	for i := 0; i < *count; i++ {
		mons = append(mons, connect())
	}
	time.Sleep(100 * time.Millisecond)
	fmt.Printf("SAMPLE %.1f\n", float64(rss()-before)/float64(*count))
	for _, m := range mons {
		m.Disconnect()
	}
}

func main() {
	flag.Parse()
	if *socket == "" {
		fail("no -socket")
	}
	switch *workload {
	case "rt":
		roundTrip()
	case "pipe":
		pipelined()
	case "big":
		bigReply()
	case "flood":
		flood()
	case "clients":
		clients()
	default:
		fail("unknown workload %q", *workload)
	}
}
