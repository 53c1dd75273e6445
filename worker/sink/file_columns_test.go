package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// TestForColumns: every column is run once on at most parallel
// goroutines; the first failing column in column order is the error,
// named; a panic in a column goroutine is an error; no goroutine outlives
// the call.
func TestForColumns(t *testing.T) {
	fields := make([]schema.Field, 40)
	for i := range fields {
		fields[i] = schema.Field{Name: fmt.Sprintf("c%d", i)}
	}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		parallel int
		fail     map[int]bool // columns returning boom
		panics   map[int]bool
		want     string
	}{
		{"sequential", 1, nil, nil, ""},
		{"parallel", 4, nil, nil, ""},
		{"more workers than columns", 100, nil, nil, ""},
		{"first failure in column order", 4, map[int]bool{7: true, 3: true}, nil, `write column "c3": boom`},
		{"sequential failure", 1, map[int]bool{5: true}, nil, `write column "c5": boom`},
		{"panic in a column goroutine", 4, nil, map[int]bool{39: true}, `write column "c39": panic: at 39`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			w := &fileWriter{fields: fields, parallel: tc.parallel}
			var runs [40]atomic.Int32
			var running, peak atomic.Int32
			err := w.forColumns(len(fields), "write", func(worker, c int) error {
				if worker < 0 || worker >= max(tc.parallel, 1) {
					t.Errorf("worker %d out of range", worker)
				}
				if n := running.Add(1); n > peak.Load() {
					peak.Store(n)
				}
				defer running.Add(-1)
				runs[c].Add(1)
				time.Sleep(100 * time.Microsecond)
				if tc.panics[c] && worker != 0 {
					panic(fmt.Sprintf("at %d", c))
				}
				if tc.panics[c] {
					return fmt.Errorf("panic: at %d", c) // the caller's goroutine panics as before
				}
				if tc.fail[c] {
					return boom
				}
				return nil
			})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				for c := range runs {
					if n := runs[c].Load(); n != 1 {
						t.Errorf("column %d ran %d times", c, n)
					}
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if p := peak.Load(); int(p) > max(tc.parallel, 1) {
				t.Errorf("%d columns ran at once, parallel %d", p, tc.parallel)
			}
			// The goroutines are done (Wait returned); give them a
			// moment to exit: a leaked one would stay.
			deadline := time.Now().Add(2 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				t.Errorf("%d goroutines after forColumns, %d before", n, before)
			}
		})
	}
}

// TestParallelWriteFailureIsSticky: a column whose pages cannot be
// written (the wide file's page spill cannot create its file) fails the
// Write with the column's name; the Writer stays failed, Commit returns
// the error and leaves no file.
func TestParallelWriteFailureIsSticky(t *testing.T) {
	dir := t.TempDir()
	fs, err := OpenFile(dir, FileOptions{Parallelism: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fields := make([]schema.Field, wideColumns+10)
	for i := range fields {
		fields[i] = schema.Field{Name: fmt.Sprintf("c%03d", i), Type: schema.String, Nullable: true}
	}
	s := &schema.Schema{Fields: fields}
	wr, err := fs.Begin(ctx, Dataset{Workspace: "ws", Name: "sticky"}, ObjectRef{Bucket: "b", Key: "k", ETag: "e", Size: 1}, PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	w := wr.(*fileWriter)
	if w.spill == nil || w.parallel != 4 {
		t.Fatalf("want a wide writer with 4 column goroutines, got spill %v parallel %d", w.spill, w.parallel)
	}
	// Every page spills, into a directory that does not exist.
	w.spill.memLimit = 0
	w.spill.dir = filepath.Join(dir, "no-such-dir")
	b := schema.NewBatch(s, 10)
	for r := range 10 {
		for c := range b.Cols {
			b.Cols[c].AppendString(fmt.Sprintf("v%d-%d", r, c))
		}
		b.Lines = append(b.Lines, int64(r+1))
	}
	err = w.Write(ctx, b)
	if err == nil || !strings.Contains(err.Error(), `file sink: write column "c`) || !strings.Contains(err.Error(), "create page spill file") {
		t.Fatalf("Write = %v, want a column's spill error", err)
	}
	if err2 := w.Write(ctx, b); err2 != err {
		t.Errorf("second Write = %v, want the sticky %v", err2, err)
	}
	if err2 := w.Commit(ctx, Stats{}); err2 != err {
		t.Errorf("Commit = %v, want the sticky %v", err2, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "ws", "sticky", ".tmp", "*"))
	if len(left) > 0 {
		t.Errorf("files left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "ws", "sticky", "_dataset.json")); err == nil {
		t.Error("a failed Writer committed a manifest")
	}
}
