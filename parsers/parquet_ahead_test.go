package parsers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// withProcs runs f with GOMAXPROCS n (the Parquet reader reads ahead only
// with more than one).
func withProcs(n int, f func()) {
	old := runtime.GOMAXPROCS(n)
	defer runtime.GOMAXPROCS(old)
	f()
}

// pqAheadLog reads data to its end and logs what the caller sees: each
// batch's lines, each OnReject call, the error that ends the read. It
// fails t if OnReject is called outside Next (reading ahead, the
// goroutine must hand the call over to Next).
func pqAheadLog(t *testing.T, data []byte, batchRows, stopAt int, wantAhead bool) []string {
	t.Helper()
	var log []string
	inNext := false
	rejects := 0
	stop := errors.New("error budget exceeded")
	r := pqOpenBytes(t, data, Options{BatchRows: batchRows, OnReject: func(pe *ParseError) error {
		if !inNext {
			t.Errorf("OnReject for row %d called outside Next", pe.Row)
		}
		rejects++
		log = append(log, fmt.Sprintf("reject row %d column %s", pe.Row, pe.Column))
		if rejects == stopAt {
			return stop
		}
		return nil
	}})
	defer r.Close()
	if got := r.(*parquetReader).ahead != nil; got != wantAhead {
		t.Fatalf("reading ahead: %v, want %v", got, wantAhead)
	}
	b := schema.NewBatch(r.Schema(), batchRows)
	for {
		inNext = true
		err := r.Next(context.Background(), b)
		inNext = false
		if err != nil {
			log = append(log, "end: "+err.Error())
			return log
		}
		ids := make([]int64, b.Len())
		for i := range ids {
			ids[i] = b.Row(i)[0].(int64)
			if ids[i] != b.Lines[i] {
				t.Fatalf("row %d has id %d", b.Lines[i], ids[i])
			}
		}
		log = append(log, fmt.Sprintf("batch %v", ids))
	}
}

// TestParquetAheadMatchesSequential reads files with rejected rows in many
// batches and row groups, with error budgets that stop at different
// rejects, one batch ahead (2 cores) and on the caller's goroutine only (1
// core): the caller sees the same batches, the same OnReject calls in the
// same order, always from inside Next, and the same end.
func TestParquetAheadMatchesSequential(t *testing.T) {
	bad := map[int]bool{}
	for i := 5; i < 9000; i += 613 {
		bad[i], bad[i+1] = true, true
	}
	data := pqU64File(t, 9000, bad, 2500)
	for _, batchRows := range []int{1, 97, 1000, 8192} {
		for _, stopAt := range []int{0, 1, 2, 7, 25} {
			if batchRows == 1 && stopAt > 2 {
				continue // long enough
			}
			t.Run(fmt.Sprintf("batch %d, stop at reject %d", batchRows, stopAt), func(t *testing.T) {
				var seq, ahead []string
				withProcs(1, func() { seq = pqAheadLog(t, data, batchRows, stopAt, false) })
				withProcs(2, func() { ahead = pqAheadLog(t, data, batchRows, stopAt, true) })
				if !slices.Equal(seq, ahead) {
					t.Fatalf("one batch ahead:\n%q\none goroutine:\n%q", ahead, seq)
				}
				if last := seq[len(seq)-1]; stopAt == 0 && last != "end: EOF" || stopAt > 0 && last != "end: error budget exceeded" {
					t.Fatalf("the read ended with %q", last)
				}
			})
		}
	}
}

// TestParquetAheadCloseAndCancel: Close ends the goroutine filling the
// next batch even while it waits for Next to make an OnReject call, and a
// cancelled Next returns at once without losing the batch in flight.
func TestParquetAheadCloseAndCancel(t *testing.T) {
	data := pqU64File(t, 3000, map[int]bool{1500: true}, 3000)
	withProcs(2, func() {
		base := runtime.NumGoroutine()
		called := false
		r := pqOpenBytes(t, data, Options{BatchRows: 1000, OnReject: func(*ParseError) error { called = true; return nil }})
		b := schema.NewBatch(r.Schema(), 1000)
		if err := r.Next(context.Background(), b); err != nil || b.Len() != 1000 {
			t.Fatalf("first batch: %v, %d rows", err, b.Len())
		}
		// The goroutine now fills rows 1000-1999 and waits for Next to
		// make the call for row 1500.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := r.Next(ctx, b); !errors.Is(err, context.Canceled) || b.Len() != 0 {
			t.Fatalf("cancelled Next: %v, %d rows", err, b.Len())
		}
		if called {
			t.Fatal("a cancelled Next made the OnReject call")
		}
		if err := r.Next(context.Background(), b); err != nil || b.Len() != 1000 || b.Lines[0] != 1000 || slices.Contains(b.Lines, 1500) {
			t.Fatalf("after the cancelled Next: %v, %d rows: %v", err, b.Len(), b.Lines)
		}
		if !called {
			t.Fatal("row 1500 was not rejected through OnReject")
		}
		r.Close()
		waitGoroutines(t, base, "Close after a cancelled Next")

		// Close while the goroutine waits for the OnReject call.
		r = pqOpenBytes(t, data, Options{BatchRows: 1000, OnReject: func(*ParseError) error { return nil }})
		if err := r.Next(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // let it reach row 1500
		done := make(chan struct{})
		go func() { r.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close waits for a goroutine that waits for Next")
		}
		waitGoroutines(t, base, "Close while the next batch waits for OnReject")
		if err := r.Next(context.Background(), b); err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("Next after Close: %v", err)
		}
	})
}

// gatedObject blocks every request past 40 % of the object (row groups 2
// and 3 of 4 of similar size) while gate is set, until the gate opens or the request's context
// ends.
type gatedObject struct {
	*pqRangeObject
	gate   atomic.Bool
	opened chan struct{}
}

func (o *gatedObject) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if o.gate.Load() && off > int64(len(o.b))*4/10 {
		select {
		case <-o.opened:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return o.pqRangeObject.Open(ctx, off, n)
}

// TestParquetAheadCancelWhileWaiting: a Next waiting for the batch being
// filled returns when its context is cancelled, and the batch is handed
// over by the next call once its data comes.
func TestParquetAheadCancelWhileWaiting(t *testing.T) {
	data := pqWriteFile(t, pqBenchRows(200000), parquet.MaxRowsPerRowGroup(50000))
	obj := &gatedObject{pqRangeObject: newPQRangeObject("s3://b/k.parquet", data), opened: make(chan struct{})}
	withProcs(2, func() {
		base := runtime.NumGoroutine()
		r, err := openParquet(context.Background(), obj, Options{BatchRows: 60000})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		obj.gate.Store(true) // row groups 2 and 3 wait
		b := schema.NewBatch(r.Schema(), 60000)
		if err := r.Next(context.Background(), b); err != nil || b.Len() != 60000 {
			t.Fatalf("first batch: %v, %d rows", err, b.Len())
		}
		// The second batch needs row group 2: its Next waits.
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		if err := r.Next(ctx, b); !errors.Is(err, context.Canceled) || b.Len() != 0 {
			t.Fatalf("Next cancelled while waiting: %v, %d rows", err, b.Len())
		}
		if waited := time.Since(start); waited > 5*time.Second {
			t.Fatalf("Next returned %s after its context was cancelled", waited)
		}
		close(obj.opened)
		if err := r.Next(context.Background(), b); err != nil || b.Len() != 60000 || b.Lines[0] != 60000 || b.Lines[59999] != 119999 {
			t.Fatalf("the batch after the cancelled Next: %v, %d rows from %v", err, b.Len(), b.Lines[:min(1, len(b.Lines))])
		}
		r.Close()
		waitGoroutines(t, base, "Close")
	})
}

// TestParquetAheadOnRejectPanics: a panic of OnReject, called by Next for
// the goroutine, is the read's error (as when the engine makes the call),
// and Close still ends the goroutine.
func TestParquetAheadOnRejectPanics(t *testing.T) {
	data := pqU64File(t, 3000, map[int]bool{1500: true}, 3000)
	withProcs(2, func() {
		base := runtime.NumGoroutine()
		r := pqOpenBytes(t, data, Options{BatchRows: 1000, OnReject: func(*ParseError) error { panic("sink gone") }})
		b := schema.NewBatch(r.Schema(), 1000)
		var err error
		for err == nil {
			err = r.Next(context.Background(), b)
		}
		if err == io.EOF || !strings.Contains(err.Error(), "OnReject panicked") || !strings.Contains(err.Error(), "sink gone") {
			t.Fatalf("the read ended with %v, want OnReject's panic", err)
		}
		if err2 := r.Next(context.Background(), b); err2 == nil || err2 == io.EOF {
			t.Fatalf("Next after the panic: %v", err2)
		}
		r.Close()
		waitGoroutines(t, base, "Close after OnReject panicked")
	})
}
