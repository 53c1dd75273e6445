package parsers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"reflect"
	"testing"
	"time"
)

// recordingReader hands out src in reads of at most step bytes, records
// the buffers it was asked to fill, and fails with err at the end of src
// (io.EOF if nil).
type recordingReader struct {
	src  []byte
	step int
	err  error
	bufs [][]byte
}

func (r *recordingReader) Read(p []byte) (int, error) {
	r.bufs = append(r.bufs, p)
	if len(r.src) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.step)], r.src)
	r.src = r.src[n:]
	return n, nil
}

// TestAheadReaderDirect reads a stream through the read-ahead, switching
// to direct reads after various amounts: every byte arrives once and in
// order, then the stream's own end or error, and after the switch the
// caller's buffers are filled in place (no copy out of read-ahead buffers).
func TestAheadReaderDirect(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	data := make([]byte, 3*readAheadBufs*readAheadBufBytes+12345)
	rng.Read(data)
	errBroken := errors.New("connection reset")
	for _, tc := range []struct {
		name     string
		switchAt int // bytes read before goDirect (-1: never)
		backAt   int // bytes read before goAhead (0: never)
		step     int // the stream's largest read
		readLen  int // the caller's buffer
		err      error
	}{
		{"never", -1, 0, 64 << 10, 1 << 20, nil},
		{"at the start", 0, 0, 64 << 10, 1 << 20, nil},
		{"after a few bytes", 100, 0, 64 << 10, 1 << 20, nil},
		{"after the read-ahead buffers", 2 * readAheadBufs * readAheadBufBytes, 0, 1 << 20, 700 << 10, nil},
		{"small reads", 5000, 0, 333, 4096, nil},
		{"then an error", 100, 0, 64 << 10, 1 << 20, errBroken},
		{"an error before the switch", len(data), 0, 64 << 10, 1 << 20, errBroken},
		// the caller's buffers (readLen) are larger than the read-ahead's
		{"and back to reading ahead", 100, 2 * readAheadBufs * readAheadBufBytes, 64 << 10, 300 << 10, nil},
		{"and back at once", 100, 100, 64 << 10, 300 << 10, nil},
		{"and back, then an error", 100, 2*readAheadBufs*readAheadBufBytes + 5000, 64 << 10, 300 << 10, errBroken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &recordingReader{src: data, step: tc.step, err: tc.err}
			a := newAheadReader(context.Background(), src)
			defer a.stop()
			var got []byte
			var callerBufs [][]byte
			var err error
			var kept string // buffers kept while reading directly
			read := func() {
				for {
					if tc.switchAt >= 0 && len(got) >= tc.switchAt {
						a.goDirect()
					}
					if tc.backAt > 0 && len(got) >= tc.backAt {
						a.goAhead()
					}
					want := tc.readLen
					for _, at := range []int{tc.switchAt, tc.backAt} {
						if at > len(got) {
							want = min(want, at-len(got)) // switch exactly there
						}
					}
					p := make([]byte, want)
					callerBufs = append(callerBufs, p)
					var n int
					n, err = a.Read(p)
					got = append(got, p[:n]...)
					if a.drained && (len(a.free) > 0 || a.cur != nil) && kept == "" {
						kept = fmt.Sprintf("%d free buffers, the current one: %v", len(a.free), a.cur != nil)
					}
					if err != nil {
						return
					}
				}
			}
			// a broken switch blocks the reads: fail, not hang
			done := make(chan struct{})
			go func() { defer close(done); read() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the reads hung (a switch lost a buffer or a marker)")
			}
			if kept != "" {
				t.Fatalf("reading directly, the read-ahead kept %s", kept)
			}
			want := tc.err
			if want == nil {
				want = io.EOF
			}
			if !errors.Is(err, want) {
				t.Fatalf("the read ended with %v, want %v", err, want)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, want the stream's %d in order", len(got), len(data))
			}
			if _, err2 := a.Read(make([]byte, 10)); !errors.Is(err2, want) {
				t.Fatalf("a read after the end returned %v, want %v again", err2, want)
			}
			a.stop()
			if tc.backAt > 0 {
				// back to reading ahead: the reads after the switch
				// back fill the goroutine's own buffers again (of
				// readAheadBufBytes; the caller's are larger)
				last := src.bufs[len(src.bufs)-1]
				if cap(last) > readAheadBufBytes || len(src.bufs) < 2 {
					t.Fatalf("the last read of the stream was into a buffer of %d bytes, want a read-ahead buffer", cap(last))
				}
				if tc.backAt <= tc.switchAt+1000 {
					return // back before the marker was taken: maybe no direct read
				}
			}
			// direct reads after the read-ahead's buffers were drained
			// land in the caller's buffers
			if tc.switchAt < 0 || tc.switchAt >= len(data) {
				return
			}
			inPlace := 0
			for _, b := range src.bufs {
				for _, c := range callerBufs {
					if len(b) > 0 && len(c) > 0 && &b[len(b)-1] == &c[len(c)-1] {
						inPlace++
					}
				}
			}
			if inPlace == 0 {
				t.Fatalf("no read of the stream filled a caller's buffer in place after the switch")
			}
		})
	}
}

// blockingReader hands out free bytes, then blocks a read until its
// context is done, and reports the buffer it blocked in.
type blockingReader struct {
	ctx     context.Context
	free    int
	blocked chan []byte
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if r.free > 0 {
		n := min(len(p), r.free)
		r.free -= n
		return n, nil
	}
	r.blocked <- p
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

// TestAheadReaderDirectStop: stop ends a direct read blocked on the
// network, and the caller sees the cancellation after the bytes before.
func TestAheadReaderDirectStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// the read-ahead's buffers fill at once; the direct read after them blocks
	src := &blockingReader{ctx: ctx, free: readAheadBufs * readAheadBufBytes, blocked: make(chan []byte, 1)}
	a := newAheadReader(ctx, src)
	a.goDirect()
	p := make([]byte, 4096)
	type result struct {
		n   int
		err error
	}
	resc := make(chan result, 1)
	go func() {
		total := 0
		for {
			n, err := a.Read(p)
			total += n
			if err != nil {
				resc <- result{total, err}
				return
			}
		}
	}()
	select {
	case b := <-src.blocked:
		if &b[len(b)-1] != &p[len(p)-1] {
			t.Fatalf("the read blocked in a buffer of %d bytes, want the caller's", len(b))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no direct read reached the stream")
	}
	cancel() // what Close does: cancel the body's context
	a.stop()
	select {
	case res := <-resc:
		if !errors.Is(res.err, context.Canceled) || res.n != readAheadBufs*readAheadBufBytes {
			t.Fatalf("the reads returned %d bytes and %v, want %d and context.Canceled", res.n, res.err, readAheadBufs*readAheadBufBytes)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked direct read did not return after stop")
	}
}

// TestSplitterReadsDirect: a parallel read of an uncompressed stream
// switches its read-ahead to direct reads (the splitter's chunks are
// filled in place); a compressed stream keeps decompressing ahead. Both
// read the rows one parser reads.
func TestSplitterReadsDirect(t *testing.T) {
	csv := genBytes(false, 3<<20)
	ndjson := genBytes(true, 3<<20)
	for _, tc := range []struct {
		name   string
		data   []byte
		direct bool
	}{
		{"a.csv", csv, true},
		{"a.ndjson", ndjson, true},
		{"a.csv.gz", compressGzip(t, csv), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := compareWithOneParser(t, tc.name, tc.data)
			if a := r.(*reader).stream.ahead; a.drained != tc.direct {
				t.Errorf("direct reads: %v, want %v", a.drained, tc.direct)
			}
		})
	}
}

// TestSplitterFallbackReadsAhead: a record longer than a chunk, after the
// splitter went to direct reads, makes one parser read the rest: it reads
// the same rows as one parser alone, and the stream is read ahead again.
func TestSplitterFallbackReadsAhead(t *testing.T) {
	csv := genBytes(false, 3<<20)
	// a 200 KiB comment (a quoted field) in a record after 2.5 MiB
	at := bytes.IndexByte(csv[5<<19:], '#') + 5<<19 + 1
	long := append(append(append([]byte(nil), csv[:at]...), bytes.Repeat([]byte("x"), 200<<10)...), csv[at:]...)
	r := compareWithOneParser(t, "long.csv", long)
	a := r.(*reader).stream.ahead
	if _, _, fallbacks := PipelineStats(r); fallbacks != 1 || !a.direct || !a.resumed {
		t.Errorf("fallbacks %d, direct reads %v, back to reading ahead %v: want 1, true, true", fallbacks, a.direct, a.resumed)
	}
}

// compareWithOneParser reads data with three workers in chunks of 64 KiB
// and with one parser, fails unless both read the same rows, and returns
// the parallel reader (read to its end).
func compareWithOneParser(t *testing.T, name string, data []byte) Reader {
	t.Helper()
	_, want := readRows(t, name, data, Options{Parallelism: 1})
	r, got := readRows(t, name, data, Options{Parallelism: 3, ChunkBytes: 64 << 10})
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: the parallel read has %d rows, one parser %d, or they differ", name, len(got), len(want))
	}
	return r
}
