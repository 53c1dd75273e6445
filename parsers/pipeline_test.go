package parsers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// waitGoroutines fails t unless the goroutines fall back to base within a
// few seconds (goroutines of other tests are not running: no t.Parallel).
func waitGoroutines(t *testing.T, base int, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("%s: %d goroutines left, %d before:\n%s", what, runtime.NumGoroutine(), base, buf[:n])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// failAfter is an object whose body fails after n bytes of data.
type failAfter struct {
	name string
	data []byte
	n    int
	err  error
}

func (f failAfter) Name() string { return f.name }
func (f failAfter) Size() int64  { return int64(len(f.data)) }
func (f failAfter) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	return io.NopCloser(io.MultiReader(bytes.NewReader(f.data[:f.n]), failReader{f.err})), nil
}

// stallAfter is an object whose body blocks after n bytes until the
// context of its Open is done, as a network body does.
type stallAfter struct {
	data []byte
	n    int
}

func (s stallAfter) Name() string { return "stall.csv" }
func (s stallAfter) Size() int64  { return -1 }
func (s stallAfter) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	return io.NopCloser(io.MultiReader(bytes.NewReader(s.data[:s.n]), ctxReader{ctx})), nil
}

type ctxReader struct{ ctx context.Context }

func (c ctxReader) Read([]byte) (int, error) {
	<-c.ctx.Done()
	return 0, c.ctx.Err()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// TestPipelineStopsEveryGoroutine checks that the pipeline's goroutines
// (read-ahead, feeder, workers) all end when the reader is closed before
// or in the middle of the object, when the context of Next is cancelled,
// when OnReject fails, at a fatal error and when the body blocks.
func TestPipelineStopsEveryGoroutine(t *testing.T) {
	csv := genBytes(false, 3<<20)
	ndjson := genBytes(true, 3<<20)
	bad := append(append([]byte(nil), csv[:1<<20]...), "\n1,x,y\n"...)
	bad = append(bad, csv[1<<20:]...)
	errBudget := errors.New("budget")
	type tc struct {
		name string
		obj  Object
		opts Options
		// stop ends the read: it returns what Next must have failed with
		// (nil: Close in the middle, goroutines checked after Close).
		stop func(r Reader, cancel context.CancelFunc) error
	}
	next := func(r Reader, ctx context.Context, n int) error {
		b := schema.NewBatch(r.Schema(), DefaultBatchRows)
		for range n {
			if err := r.Next(ctx, b); err != nil {
				return err
			}
		}
		return nil
	}
	var cases []tc
	for _, par := range []int{1, 3} {
		for _, obj := range []Object{BytesObject("a.csv", csv), BytesObject("a.csv.gz", gzipBytes(t, csv)), BytesObject("a.ndjson", ndjson)} {
			data := csv
			if obj.Name() == "a.ndjson" {
				data = ndjson
			}
			opts := Options{Parallelism: par, ChunkBytes: 64 << 10}
			name := obj.Name() + "/" + string(rune('0'+par))
			cases = append(cases,
				tc{name + "/close-unread", obj, opts, func(r Reader, _ context.CancelFunc) error { return nil }},
				tc{name + "/close-mid", obj, opts, func(r Reader, _ context.CancelFunc) error {
					if err := next(r, context.Background(), 2); err != nil {
						t.Fatal(err)
					}
					return nil
				}},
				tc{name + "/cancel", obj, opts, func(r Reader, cancel context.CancelFunc) error {
					ctx, c := context.WithCancel(context.Background())
					if err := next(r, ctx, 2); err != nil {
						t.Fatal(err)
					}
					c()
					return next(r, ctx, 1)
				}},
				tc{name + "/cancel-open-context", obj, opts, func(r Reader, cancel context.CancelFunc) error {
					if err := next(r, context.Background(), 1); err != nil {
						t.Fatal(err)
					}
					cancel()
					return next(r, context.Background(), 1<<20)
				}},
				tc{name + "/read-error", failAfter{obj.Name(), data, 2 << 20, errBudget}, opts, func(r Reader, _ context.CancelFunc) error {
					return next(r, context.Background(), 1<<20)
				}},
			)
		}
		opts := Options{Parallelism: par, ChunkBytes: 64 << 10, OnReject: func(*ParseError) error { return errBudget }}
		cases = append(cases,
			tc{"reject-budget/" + string(rune('0'+par)), BytesObject("bad.csv", bad), opts, func(r Reader, _ context.CancelFunc) error {
				return next(r, context.Background(), 1<<20)
			}},
			tc{"stalled-body/" + string(rune('0'+par)), stallAfter{csv, 2 << 20}, Options{Parallelism: par, ChunkBytes: 64 << 10},
				func(r Reader, _ context.CancelFunc) error {
					if err := next(r, context.Background(), 1); err != nil {
						t.Fatal(err)
					}
					return nil
				}},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r, err := Open(ctx, c.obj, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			err = c.stop(r, cancel)
			if err != nil {
				if err == io.EOF {
					t.Fatalf("the read ended without an error")
				}
				// the error stopped the pipeline: nothing left before Close
				waitGoroutines(t, base, "after "+err.Error())
				b := schema.NewBatch(r.Schema(), 1)
				if again := r.Next(context.Background(), b); again != err {
					t.Fatalf("Next after %v returned %v: the error must stick", err, again)
				}
			}
			done := make(chan struct{})
			go func() { r.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Close hangs")
			}
			waitGoroutines(t, base, "after Close")
		})
	}
}

// TestPipelineReadErrorAfterRows checks that a read error of the object's
// body reaches Next after the rows before it, in parallel as with one
// parser.
func TestPipelineReadErrorAfterRows(t *testing.T) {
	data := genBytes(false, 1<<20)
	errBody := errors.New("connection reset")
	for _, n := range []int{100, 300 << 10, len(data) - 10} {
		count := func(open func(context.Context, Object, Options) (Reader, error), opts Options) (int, error) {
			r, err := open(context.Background(), failAfter{"e.csv", data, n, errBody}, opts)
			if err != nil {
				return 0, err
			}
			defer r.Close()
			b := schema.NewBatch(r.Schema(), DefaultBatchRows)
			rows := 0
			for {
				err := r.Next(context.Background(), b)
				rows += b.Len()
				if err != nil {
					return rows, err
				}
			}
		}
		seqRows, seqErr := count(openSeq, Options{})
		parRows, parErr := count(Open, Options{Parallelism: 3, ChunkBytes: 8 << 10})
		if !errors.Is(parErr, errBody) || !errors.Is(seqErr, errBody) {
			t.Fatalf("%d bytes: errors %v and %v, want the body's", n, seqErr, parErr)
		}
		if seqRows != parRows {
			t.Fatalf("%d bytes: %d rows before the error in parallel, %d with one parser", n, parRows, seqRows)
		}
	}
}

func openSeq(ctx context.Context, obj Object, opts Options) (Reader, error) {
	r, err := Open(ctx, obj, opts)
	if tr, ok := r.(*reader); ok {
		tr.pipelined = false
	}
	return r, err
}

// TestPipelineCallbacksInConsumer checks that OnReject and OnWarning are
// called from Next's goroutine only (the worker's error budget and its
// sink's Reject are not safe for concurrent use).
func TestPipelineCallbacksInConsumer(t *testing.T) {
	var b strings.Builder
	b.WriteString("{\"id\":1}\n")
	for i := 0; i < 20000; i++ {
		switch i % 97 {
		case 0:
			b.WriteString("{\"id\":oops}\n")
		case 1:
			b.WriteString("{\"id\":2,\"k" + strings.Repeat("x", i%7) + "\":1}\n")
		default:
			b.WriteString("{\"id\":3}\n")
		}
	}
	inNext := false
	calls := 0
	check := func() {
		calls++
		if !inNext {
			t.Error("a callback was called outside Next")
		}
	}
	opts := Options{Parallelism: 4, ChunkBytes: 4 << 10, SampleRows: 1,
		OnReject:  func(*ParseError) error { check(); return nil },
		OnWarning: func(string) { check() }}
	r, err := Open(context.Background(), BytesObject("c.ndjson", []byte(b.String())), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	batch := schema.NewBatch(r.Schema(), DefaultBatchRows)
	for {
		inNext = true
		err := r.Next(context.Background(), batch)
		inNext = false
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if calls < 200 {
		t.Fatalf("%d callbacks", calls)
	}
}
