package qmp_test

import (
	"errors"
	"os"
	"testing"

	"libqmp.org/qmp"
)

func tempFile(t *testing.T) *os.File {
	f, err := os.CreateTemp(t.TempDir(), "fd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

type fdset struct {
	ID  int64 `json:"fdset-id"`
	FDs []struct {
		FD     int64  `json:"fd"`
		Opaque string `json:"opaque"`
	} `json:"fds"`
}

func queryFdsets(t *testing.T, c *qmp.Client) []fdset {
	t.Helper()
	var sets []fdset
	if err := c.ExecuteInto(bg, &sets, "query-fdsets", nil); err != nil {
		t.Fatal(err)
	}
	return sets
}

func TestAddFD(t *testing.T) {
	c := startQEMU(t).dial()
	f1, f2 := tempFile(t), tempFile(t)
	a1, err := c.AddFD(bg, f1, qmp.NewFDSet, "go-one")
	if err != nil {
		t.Fatalf("AddFD: %v", err)
	}
	a2, err := c.AddFD(bg, f2, a1.FDSetID, "")
	if err != nil || a2.FDSetID != a1.FDSetID || a2.FD == a1.FD {
		t.Fatalf("AddFD into set %d: %+v, %v", a1.FDSetID, a2, err)
	}
	// Execute with WithFiles is the general way: add-fd by hand.
	var a3 qmp.AddedFD
	if err := c.ExecuteInto(bg, &a3, "add-fd", map[string]any{"opaque": "go-three"}, qmp.WithFiles(f1)); err != nil {
		t.Fatalf("add-fd WithFiles: %v", err)
	}

	found := map[int64]string{}
	for _, s := range queryFdsets(t, c) {
		for _, fd := range s.FDs {
			if s.ID == a1.FDSetID || s.ID == a3.FDSetID {
				found[fd.FD] = fd.Opaque
			}
		}
	}
	if found[a1.FD] != "go-one" || found[a3.FD] != "go-three" || len(found) != 3 {
		t.Fatalf("query-fdsets: %v; added %+v %+v %+v", found, a1, a2, a3)
	}

	// The files stay ours and open.
	if _, err := f1.WriteString("still mine"); err != nil {
		t.Fatalf("f1 after AddFD: %v", err)
	}
	if _, err := c.Execute(bg, "remove-fd", map[string]any{"fdset-id": a1.FDSetID}); err != nil {
		t.Fatalf("remove-fd: %v", err)
	}
}

func TestGetFD(t *testing.T) {
	c := startQEMU(t).dial()
	f := tempFile(t)
	if err := c.GetFD(bg, f, "gofd"); err != nil {
		t.Fatalf("GetFD: %v", err)
	}
	if err := c.CloseFD(bg, "gofd"); err != nil {
		t.Fatalf("CloseFD: %v", err)
	}
	var ce *qmp.CommandError
	if err := c.CloseFD(bg, "gofd"); !errors.As(err, &ce) {
		t.Fatalf("CloseFD twice: %v, want a CommandError", err)
	}
	closed := tempFile(t)
	closed.Close()
	if err := c.GetFD(bg, closed, "x"); err == nil {
		t.Fatal("GetFD of a closed file succeeded")
	}
	many := make([]*os.File, 17)
	for i := range many {
		many[i] = f
	}
	var e *qmp.Error
	if _, err := c.Execute(bg, "add-fd", nil, qmp.WithFiles(many...)); !errors.As(err, &e) || e.Code != qmp.CodeInvalid {
		t.Fatalf("17 files: %v, want CodeInvalid", err)
	}
}
