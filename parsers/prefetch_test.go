package parsers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
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
		step     int // the stream's largest read
		readLen  int // the caller's buffer
		err      error
	}{
		{"never", -1, 64 << 10, 1 << 20, nil},
		{"at the start", 0, 64 << 10, 1 << 20, nil},
		{"after a few bytes", 100, 64 << 10, 1 << 20, nil},
		{"after the read-ahead buffers", 2 * readAheadBufs * readAheadBufBytes, 1 << 20, 700 << 10, nil},
		{"small reads", 5000, 333, 4096, nil},
		{"then an error", 100, 64 << 10, 1 << 20, errBroken},
		{"an error before the switch", len(data), 64 << 10, 1 << 20, errBroken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &recordingReader{src: data, step: tc.step, err: tc.err}
			a := newAheadReader(context.Background(), src)
			defer a.stop()
			var got []byte
			var callerBufs [][]byte
			var err error
			for {
				if tc.switchAt >= 0 && len(got) >= tc.switchAt {
					a.goDirect()
				}
				want := tc.readLen
				if tc.switchAt > len(got) {
					want = min(want, tc.switchAt-len(got)) // switch exactly there
				}
				p := make([]byte, want)
				if a.direct {
					callerBufs = append(callerBufs, p)
				}
				var n int
				n, err = a.Read(p)
				got = append(got, p[:n]...)
				if err != nil {
					break
				}
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

// blockingReader blocks every read until its context is done.
type blockingReader struct{ ctx context.Context }

func (r blockingReader) Read([]byte) (int, error) {
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

// TestAheadReaderDirectStop: stop ends a direct read blocked on the
// network, and the caller sees the cancellation.
func TestAheadReaderDirectStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := newAheadReader(ctx, blockingReader{ctx})
	a.goDirect()
	errc := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 4096))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel() // what Close does: cancel the body's context
	a.stop()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the blocked read returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked direct read did not return after stop")
	}
}

// TestSplitterReadsDirect: a parallel read of an uncompressed stream
// switches its read-ahead to direct reads (the splitter's chunks are
// filled in place); a compressed stream keeps decompressing ahead. Both
// read every row.
func TestSplitterReadsDirect(t *testing.T) {
	csv := genBytes(false, 3<<20)
	ndjson := genBytes(true, 3<<20)
	for _, tc := range []struct {
		obj    Object
		direct bool
	}{
		{BytesObject("a.csv", csv), true},
		{BytesObject("a.ndjson", ndjson), true},
		{BytesObject("a.csv.gz", compressGzip(t, csv)), false},
	} {
		t.Run(tc.obj.Name(), func(t *testing.T) {
			opts := Options{Parallelism: 3, ChunkBytes: 64 << 10}
			var rows [2]int
			for i, o := range []Options{{Parallelism: 1}, opts} {
				r, err := Open(context.Background(), tc.obj, o)
				if err != nil {
					t.Fatal(err)
				}
				b := schema.NewBatch(r.Schema(), DefaultBatchRows)
				for {
					err := r.Next(context.Background(), b)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					rows[i] += b.Len()
				}
				if i == 1 {
					a := r.(*reader).stream.ahead
					if a.drained != tc.direct {
						t.Errorf("direct reads: %v, want %v", a.drained, tc.direct)
					}
				}
				r.Close()
			}
			if rows[0] == 0 || rows[1] != rows[0] {
				t.Fatalf("rows: parallel %d, one parser %d", rows[1], rows[0])
			}
		})
	}
}
