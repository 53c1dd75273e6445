package parquet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	parquetgo "github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

type testRow struct {
	ID   int64  `parquet:"id"`
	Name string `parquet:"name"`
}

func writeFile(t *testing.T, n int) []byte {
	t.Helper()
	rows := make([]testRow, n)
	for i := range rows {
		rows[i] = testRow{ID: int64(i), Name: strings.Repeat("x", i%7)}
	}
	var buf bytes.Buffer
	w := parquetgo.NewGenericWriter[testRow](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPanicBoundary checks that a panic inside Next (here: a reader whose
// state was broken on purpose) comes out as an *Error wrapping ErrCorrupt,
// and that the reader then keeps failing with it.
func TestPanicBoundary(t *testing.T) {
	data := writeFile(t, 10)
	r, err := Open(context.Background(), bytes.NewReader(data), int64(len(data)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.chunks = nil // fill will index out of range
	b := schema.NewBatch(r.Schema(), 10)
	err = r.Next(context.Background(), b)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, shared.ErrCorrupt) || !strings.Contains(e.Error(), "decoder failed") {
		t.Fatalf("error %v", err)
	}
	if err2 := r.Next(context.Background(), b); err2 != err {
		t.Fatalf("second Next: %v", err2)
	}
}

// failingReaderAt fails every read after the first ok ones.
type failingReaderAt struct {
	r    io.ReaderAt
	ok   int64
	err  error
	seen atomic.Int64
}

func (f *failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if f.seen.Add(1) > f.ok {
		return 0, f.err
	}
	return f.r.ReadAt(p, off)
}

// TestReaderAtErrors checks that errors of the io.ReaderAt come out as they
// are, never as an *Error, and that a short io.ReaderAt is an
// io.ErrUnexpectedEOF.
func TestReaderAtErrors(t *testing.T) {
	data := writeFile(t, 100000)
	if len(data) <= TailBytes {
		t.Fatalf("%d bytes: too small for the test", len(data))
	}
	boom := errors.New("503 SlowDown")
	for ok := range int64(3) { // head, tail, then the row group

		ra := &failingReaderAt{r: bytes.NewReader(data), ok: ok, err: boom}
		r, err := Open(context.Background(), ra, int64(len(data)), Config{})
		if err == nil {
			b := schema.NewBatch(r.Schema(), 100)
			for err == nil {
				err = r.Next(context.Background(), b)
			}
			r.Close()
		}
		var e *Error
		if !errors.Is(err, boom) || errors.As(err, &e) {
			t.Fatalf("failing after %d reads: %v", ok, err)
		}
	}
	// the file is shorter than the size given
	_, err := Open(context.Background(), bytes.NewReader(data[:len(data)-10]), int64(len(data)), Config{})
	var e *Error
	if !errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &e) {
		t.Fatalf("short file: %v", err)
	}
}
