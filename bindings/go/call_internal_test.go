package qmp

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"libqmp.org/qmp/internal/libqmp"
)

// FromConn's connect takes the descriptor whether connect_fd fails or a
// cancelled handle refuses it before it runs (the cancel of a Dial whose
// connect had not started yet): either way the descriptor is closed, as
// the silent peer's end sees.
func TestAdoptFDClosesTheDescriptor(t *testing.T) {
	s := collect(nil)
	c, err := newClient(&s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, cancelled := range []bool{true, false} {
		pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.SetNonblock(pair[1], true); err != nil {
			t.Fatal(err)
		}
		peer := os.NewFile(uintptr(pair[1]), "silent peer") // never writes
		defer peer.Close()
		h := &handle{}
		if cancelled {
			h.cancel()
		}
		var owner atomic.Int32
		connect := adoptFD(&owner, pair[0])
		var wasRefused bool
		_, _, err = c.runCall(h, func(b libqmp.Struct_SS_qmpb_client, call libqmp.Struct_SS_qmp_call) (string, uint64, error) {
			_, err := take(connect(b, call, 100), "")
			wasRefused = refused(call)
			return "", 0, err
		})
		want := CodeTimedOut // no greeting within 100 ms
		if cancelled {
			want = CodeCancelled
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != want {
			t.Fatalf("cancelled %v: %v, want %v", cancelled, err, want)
		}
		if wasRefused != cancelled || owner.Load() != 1 {
			t.Fatalf("cancelled %v: refused %v, owner %d", cancelled, wasRefused, owner.Load())
		}
		peer.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := peer.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("cancelled %v: the peer read %d bytes, %v; want EOF (the descriptor closed)", cancelled, n, err)
		}
	}
}
