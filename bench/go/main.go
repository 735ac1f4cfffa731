// qmp-bench-go: the go-qemu peer of the benchmarks (Debian's
// golang-github-digitalocean-go-qemu-dev, built in GOPATH mode, offline).
//
//	qmp-bench-go -socket PATH -workload rt|pipe|big|flood|clients -count N
//	qmp-bench-go -socket PATH -workload fanin -clients N -count K -paced P -interval US
//
// Runs one sample of one workload and prints "SAMPLE <value> [<value>]"
// ("SCALE ..." for fanin: see bench/scale.h) or, when go-qemu cannot do it,
// "FAIL <reason>"; qmp-bench reads the line.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io/ioutil"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/digitalocean/go-qemu/qmp"
)

var (
	socket   = flag.String("socket", "", "the QMP socket")
	workload = flag.String("workload", "rt", "rt, pipe, big, flood or clients")
	count    = flag.Int("count", 1000, "commands, events or clients")
	inFlight = flag.Int("inflight", 64, "goroutines issuing commands at once (pipe)")
	nClients = flag.Int("clients", 1000, "monitors (fanin)")
	paced    = flag.Int("paced", 10, "paced events per monitor (fanin)")
	interval = flag.Int("interval", 100000, "us between paced events (fanin)")
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

// monoNs is CLOCK_MONOTONIC in ns, the clock of the mock's "t" stamps.
func monoNs() int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

// startFloods sends bench-start on a connection of its own: every armed flood starts.
func startFloods() {
	c, err := net.Dial("unix", *socket)
	if err != nil {
		fail("bench-start: %v", err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, line := range []string{"", `{"execute":"qmp_capabilities"}`, `{"execute":"bench-start"}`} {
		if line != "" {
			fmt.Fprintln(c, line)
		}
		if _, err := r.ReadString('\n'); err != nil {
			fail("bench-start: %v", err)
		}
	}
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[int(p/100*float64(len(v)-1)+0.5)]
}

// fanin: -clients monitors, a goroutine reading each one's Events channel;
// every monitor's flood armed, then all started at once.
func fanin() {
	n := *nClients
	mons := make([]*qmp.SocketMonitor, n)
	runtime.GC()
	before := rss()
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			mon, err := qmp.NewSocketMonitor("unix", *socket, 30*time.Second)
			if err == nil {
				err = mon.Connect()
			}
			if err != nil {
				firstErr.Store(err.Error())
				return
			}
			mons[i] = mon
		}(i)
	}
	wg.Wait()
	storm := time.Since(start)
	if e := firstErr.Load(); e != nil {
		fail("connect: %v", e)
	}
	time.Sleep(50 * time.Millisecond)
	memPer := float64(rss()-before) / float64(n)

	// One goroutine per monitor reads its events for the whole run.
	var mu sync.Mutex
	var lat []float64
	var ends int64
	endCh := make(chan struct{}, n)
	for _, mon := range mons {
		events, _ := mon.Events(context.Background())
		go func(events <-chan qmp.Event) {
			local := make([]float64, 0, 64)
			for ev := range events {
				if t, ok := ev.Data["t"].(float64); ok {
					local = append(local, float64(monoNs())-t)
				}
				if ev.Event == "BENCH_END" {
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
					local = local[:0]
					atomic.AddInt64(&ends, 1)
					endCh <- struct{}{}
				}
			}
		}(events)
	}
	phase := func(count, intervalUs int) (float64, float64, float64) {
		mu.Lock()
		lat = lat[:0]
		mu.Unlock()
		cmd := []byte(fmt.Sprintf(`{"execute":"bench-flood","arguments":{"count":%d,"stamp":true,"armed":true,"interval-us":%d}}`,
			count, intervalUs))
		for _, mon := range mons {
			if _, err := run(mon, cmd); err != nil {
				fail("bench-flood: %v", err)
			}
		}
		t0 := time.Now()
		startFloods()
		timeout := time.After(120 * time.Second)
		for i := 0; i < n; i++ {
			select {
			case <-endCh:
			case <-timeout:
				fail("%d of %d floods ended", atomic.LoadInt64(&ends), n)
			}
		}
		el := time.Since(t0).Seconds()
		mu.Lock()
		defer mu.Unlock()
		if len(lat) != n*count {
			fail("received %d of %d events", len(lat), n*count)
		}
		sort.Float64s(lat)
		return float64(n*count) / el, percentile(lat, 50) / 1e6, percentile(lat, 99) / 1e6
	}
	rate, fp50, fp99 := phase(*count, 0)
	_, pp50, pp99 := phase(*paced, *interval)
	fmt.Printf("SCALE %.3f %.1f %.1f %.3f %.3f %.3f %.3f\n", storm.Seconds()*1e3, memPer, rate, fp50, fp99, pp50, pp99)
	os.Exit(0) // Disconnect would wait for the listeners, which wait on the events channels
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
	case "fanin":
		fanin()
	default:
		fail("unknown workload %q", *workload)
	}
}
