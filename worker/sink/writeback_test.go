package sink

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWritebackFile: the bytes written through a writebackFile are the
// file's, and write-back is requested once per writebackBytes written.
func TestWritebackFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type request struct{ off, n int64 }
	var requests []request
	startWriteback = func(rf *os.File, off, n int64) {
		if rf != f {
			t.Errorf("write-back requested for %s, not the data file", rf.Name())
		}
		requests = append(requests, request{off, n})
	}
	t.Cleanup(func() { startWriteback = writebackRange })
	w := &writebackFile{f: f}
	var want bytes.Buffer
	for i := 0; want.Len() < 2*writebackBytes+12345; i++ {
		p := bytes.Repeat([]byte{byte(i)}, 1+i*7919%(1<<20))
		if n, err := w.Write(p); err != nil || n != len(p) {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
		want.Write(p)
		if w.written != int64(want.Len()) || w.written-w.started >= writebackBytes {
			t.Fatalf("after %d bytes: written %d, write-back requested up to %d", want.Len(), w.written, w.started)
		}
	}
	// Contiguous ranges from 0, each of at least writebackBytes, up to the
	// last whole writebackBytes written.
	next := int64(0)
	for _, r := range requests {
		if r.off != next || r.n < writebackBytes {
			t.Fatalf("requests %v: not contiguous ranges of at least %d bytes from 0", requests, writebackBytes)
		}
		next = r.off + r.n
	}
	if len(requests) < 2 || next != w.started || w.written-next >= writebackBytes {
		t.Fatalf("requests %v for %d bytes written", requests, w.written)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the file differs from what was written (%d bytes, %v)", len(got), err)
	}
}
