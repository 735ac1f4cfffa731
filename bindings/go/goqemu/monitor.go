// Package goqemu adapts a libqmp client to the Monitor interface of
// github.com/digitalocean/go-qemu/qmp, so that go-qemu's qemu.NewDomain and
// its helpers run over libqmp:
//
//	m := goqemu.NewUnixMonitor("/tmp/qmp.sock", qmp.WithTimeout(5*time.Second))
//	if err := m.Connect(); err != nil {
//		log.Fatal(err)
//	}
//	defer m.Disconnect()
//	d, err := qemu.NewDomain(m, "vm0")
//	st, err := d.Status()
//
// What go-qemu's own SocketMonitor does not have comes with libqmp: replies
// of any size (up to WithMaxMessageSize; go-qemu's scanner stops at 64 KiB),
// commands matched to replies by id (several Run calls at once), and a
// timeout on every Run (WithRunTimeout, else the Client's default).
//
// It is built only where go-qemu is installed (Debian's
// golang-github-digitalocean-go-qemu-dev, which scripts/setup.sh installs).
package goqemu

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	gqmp "github.com/digitalocean/go-qemu/qmp"
	"libqmp.org/qmp"
)

// Monitor is a go-qemu qmp.Monitor over a *qmp.Client.  Its methods may be
// called from several goroutines at once.
type Monitor struct {
	dial func(ctx context.Context) (*qmp.Client, error) // nil: over a given Client

	mu     sync.Mutex
	c      *qmp.Client
	runOpt []qmp.Option
}

var _ gqmp.Monitor = (*Monitor)(nil)

// NewUnixMonitor makes a Monitor that Connect dials at path (QEMU's -qmp
// unix:PATH,server=on) with opts, as for qmp.DialUnix.
func NewUnixMonitor(path string, opts ...qmp.Option) *Monitor {
	return &Monitor{dial: func(ctx context.Context) (*qmp.Client, error) {
		return qmp.DialUnix(ctx, path, opts...)
	}}
}

// NewMonitor makes a Monitor over a connected Client: Connect does nothing
// and Disconnect closes c.
func NewMonitor(c *qmp.Client) *Monitor { return &Monitor{c: c} }

// WithRunTimeout bounds every Run (d < 0: no bound; 0: the Client's default).
func (m *Monitor) WithRunTimeout(d time.Duration) *Monitor {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runOpt = []qmp.Option{qmp.WithTimeout(d)}
	return m
}

// Client is the libqmp client under the Monitor (nil before Connect).
func (m *Monitor) Client() *qmp.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c
}

// Connect connects (greeting and capabilities negotiated).
func (m *Monitor) Connect() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.c != nil {
		if m.dial == nil {
			return nil
		}
		return errors.New("goqemu: already connected")
	}
	if m.dial == nil {
		return errors.New("goqemu: the Client was closed")
	}
	c, err := m.dial(context.Background())
	if err != nil {
		return err
	}
	m.c = c
	return nil
}

// Disconnect closes the connection; the event channels close.
func (m *Monitor) Disconnect() error {
	m.mu.Lock()
	c := m.c
	m.c = nil
	m.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.Close()
}

func (m *Monitor) client() (*qmp.Client, []qmp.Option, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.c == nil {
		return nil, nil, errors.New("goqemu: not connected")
	}
	return m.c, m.runOpt, nil
}

// Run sends command ({"execute": ..., "arguments": ...}) and returns the
// whole response, {"return": ...}, as go-qemu's monitors do.  QEMU's
// error is a *qmp.CommandError (its Error() ends with QEMU's "desc").
func (m *Monitor) Run(command []byte) ([]byte, error) {
	c, opts, err := m.client()
	if err != nil {
		return nil, err
	}
	ret, err := c.ExecuteJSON(context.Background(), command, opts...)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Return json.RawMessage `json:"return"`
	}{ret})
}

// Events returns a channel of every event from now on, closed when ctx is
// done or the connection ends.
func (m *Monitor) Events(ctx context.Context) (<-chan gqmp.Event, error) {
	c, _, err := m.client()
	if err != nil {
		return nil, err
	}
	in := c.Events("")
	out := make(chan gqmp.Event)
	go func() {
		defer close(out)
		defer c.StopEvents(in)
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-in:
				if !ok {
					return
				}
				var ge gqmp.Event
				if err := json.Unmarshal(e.JSON, &ge); err != nil {
					continue // not an event go-qemu can represent
				}
				select {
				case out <- ge:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
