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
	if w.started < 2*writebackBytes {
		t.Fatalf("write-back requested up to %d of %d bytes", w.started, w.written)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the file differs from what was written (%d bytes, %v)", len(got), err)
	}
}
