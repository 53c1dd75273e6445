package parsers

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	engine "github.com/s3ingest/s3ingest/parsers/internal/parquet"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// pqReadObject opens and reads obj to the end; it returns the rows read and
// the first error.
func pqReadObject(ctx context.Context, obj Object, opts Options) (int, error) {
	r, err := openParquet(ctx, obj, opts)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	rows, _, err := pqReadAll(ctx, r, 1000)
	return len(rows), err
}

func TestParquetCorruptFiles(t *testing.T) {
	good := pqWriteFile(t, pqBenchRows(2000), parquet.Compression(&parquet.Snappy))
	footerLen := int(binary.LittleEndian.Uint32(good[len(good)-8:]))
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		data []byte
		want error
		msg  string // the cause starts with this
	}{
		{"empty", nil, ErrCorrupt, "corrupt: 0 bytes is too small"},
		{"text", []byte("id,name\n1,alice\n2,bob\n"), ErrCorrupt, "corrupt: not a Parquet file"},
		{"truncated tail", good[:len(good)-3], ErrCorrupt, "corrupt: the file does not end with"},
		{"truncated half", good[:len(good)/2], ErrCorrupt, "corrupt: the file does not end with"},
		{"footer length", edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[len(b)-8:], 1<<30)
			return b
		}), ErrCorrupt, "corrupt: footer length"},
		{"footer garbage", edit(func(b []byte) []byte {
			for i := len(b) - 8 - footerLen; i < len(b)-8; i++ {
				b[i] = 0xff
			}
			return b
		}), ErrCorrupt, "corrupt: footer"},
		{"encrypted footer", edit(func(b []byte) []byte {
			copy(b[len(b)-4:], "PARE")
			return b
		}), ErrUnsupported, "unsupported: encrypted Parquet file"},
		{"page header garbage", edit(func(b []byte) []byte {
			for i := 4; i < 40; i++ {
				b[i] = 0xff
			}
			return b
		}), ErrCorrupt, "corrupt: "},
		{"page data garbage", edit(func(b []byte) []byte {
			for i := 200; i < 4000; i++ {
				b[i] ^= 0x5a
			}
			return b
		}), ErrCorrupt, "corrupt: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, obj := range []Object{newPQRangeObject("s3://b/k.parquet", tc.data), pqAtObject{newPQRangeObject("s3://b/k.parquet", tc.data)}} {
				_, err := pqReadObject(context.Background(), obj, Options{})
				var pe *ParseError
				if !errors.As(err, &pe) || !errors.Is(err, tc.want) {
					t.Fatalf("error %v, want a ParseError wrapping %v", err, tc.want)
				}
				if pe.Object != "s3://b/k.parquet" || !strings.HasPrefix(pe.Err.Error(), tc.msg) {
					t.Fatalf("error %q (object %q), want the cause to start with %q", pe.Error(), pe.Object, tc.msg)
				}
				if strings.Contains(pe.Error(), "decoder failed") {
					t.Logf("recovered panic: %v", pe)
				}
			}
		})
	}
}

func TestParquetUnknownSize(t *testing.T) {
	obj := newPQRangeObject("s3://b/k.parquet", pqWriteFile(t, pqBenchRows(3)))
	obj.size = -1
	_, err := openParquet(context.Background(), obj, Options{})
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, ErrUnsupported) || !strings.HasPrefix(pe.Err.Error(), "unsupported: Parquet needs the object's size") {
		t.Fatalf("error %v", err)
	}
	if obj.requests.Load() != 0 {
		t.Fatalf("%d requests for an object of unknown size", obj.requests.Load())
	}
}

// TestParquetObjectErrors checks that errors of the object itself are
// returned as they are (wrapped, naming the object), never as a
// ParseError, whichever request fails: the head or the tail of the footer,
// or a read-ahead window mid-read (after the rows of the windows before it
// are delivered); that the reader stops there; and that a background fetch
// that failed once is fetched again.
func TestParquetObjectErrors(t *testing.T) {
	// 4 row groups of ~3.7 MB: requests 1-2 read the footer, 3 the first
	// window (one row group each), 4 the second in the background while
	// the first is read, and so on. A failed background fetch is fetched
	// again when its rows are needed (and fails again here: every request
	// from failAfter on fails).
	data := pqWriteFile(t, pqBenchRows(200000), parquet.MaxRowsPerRowGroup(50000))
	if len(data) <= engine.TailBytes {
		t.Fatalf("the file is too small (%d bytes) for the test", len(data))
	}
	boom := errors.New("503 SlowDown")
	for _, tc := range []struct {
		after int64 // the request that fails
		rows  int   // rows delivered before the error
	}{{1, 0}, {2, 0}, {3, 0}, {4, 50000}, {5, 100000}, {6, 150000}} {
		const name = "s3://b/k.parquet"
		obj := newPQRangeObject(name, data)
		obj.failAfter, obj.failErr = tc.after, boom
		var pe *ParseError
		r, err := openParquet(context.Background(), obj, Options{})
		if err != nil {
			if tc.after > 2 || !errors.Is(err, boom) || errors.As(err, &pe) || !strings.Contains(err.Error(), name) {
				t.Fatalf("failing request %d: open: %v, want the object's error naming it, not a ParseError", tc.after, err)
			}
			continue
		}
		rows, _, err := pqReadAll(context.Background(), r, 1000)
		if !errors.Is(err, boom) || errors.As(err, &pe) || !strings.Contains(err.Error(), name) || len(rows) != tc.rows {
			t.Fatalf("failing request %d: %d rows, error %v; want %d rows, then the object's error naming it, not a ParseError",
				tc.after, len(rows), err, tc.rows)
		}
		before := obj.requests.Load()
		b := schema.NewBatch(r.Schema(), 10)
		if err2 := r.Next(context.Background(), b); !errors.Is(err2, boom) || obj.requests.Load() != before {
			t.Fatalf("failing request %d: Next after the error: %v, %d more requests", tc.after, err2, obj.requests.Load()-before)
		}
		r.Close()
	}

	// the background fetch of the second window fails once: fetched
	// again, all rows
	obj := newPQRangeObject("k", data)
	obj.onOpen = func(n int64) {
		if n == 4 {
			panic("connection reset")
		}
	}
	if n, err := pqReadObject(context.Background(), obj, Options{}); err != nil || n != 200000 || obj.requests.Load() != 7 {
		t.Fatalf("a background fetch failing once: %d rows, %v, %d requests (%v)", n, err, obj.requests.Load(), obj.ranges)
	}

	// a short object (its size says more than it has)
	obj = newPQRangeObject("s3://b/k.parquet", data[:len(data)-100])
	obj.size = int64(len(data))
	_, err := pqReadObject(context.Background(), obj, Options{})
	var pe *ParseError
	if !errors.Is(err, errShortBody) || errors.As(err, &pe) {
		t.Fatalf("short body: %v", err)
	}

	// a panicking object
	obj = newPQRangeObject("s3://b/k.parquet", data)
	obj.onOpen = func(n int64) {
		if n == 3 {
			panic("nil map")
		}
	}
	_, err = pqReadObject(context.Background(), obj, Options{})
	if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("panicking object: %v", err)
	}
}

// TestParquetBrokenBodies checks that a ranged read whose body breaks off
// is resumed where it stopped, and micro-reads of 1 to 5 bytes.
func TestParquetBrokenBodies(t *testing.T) {
	data := pqWriteFile(t, pqBenchRows(50000), parquet.MaxRowsPerRowGroup(20000))
	want, err := pqReadObject(context.Background(), newPQRangeObject("k", data), Options{})
	if err != nil || want != 50000 {
		t.Fatal(want, err)
	}
	obj := newPQRangeObject("k", data)
	obj.breakBody = 100
	obj.breakCount.Store(2) // the first request and its first resume break off
	n, err := pqReadObject(context.Background(), obj, Options{})
	if err != nil || n != want {
		t.Fatalf("with broken bodies: %d rows, %v", n, err)
	}
	// the body of a read-ahead window (request 3, after head and tail)
	// breaks off in the middle once: resumed from where it stopped
	obj = newPQRangeObject("k", data)
	obj.breakBody = 1 << 20
	obj.onOpen = func(n int64) {
		if n == 3 {
			obj.breakCount.Store(1)
		}
	}
	n, err = pqReadObject(context.Background(), obj, Options{})
	if err != nil || n != want || obj.requests.Load() != 4 || obj.ranges[3][0] != obj.ranges[2][0]+1<<20 {
		t.Fatalf("with a broken window: %d rows, %v, ranges %v", n, err, obj.ranges)
	}
	obj = newPQRangeObject("k", data)
	obj.breakBody = 10
	obj.breakCount.Store(1000)
	_, err = pqReadObject(context.Background(), obj, Options{})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("bodies that always break: %v", err)
	}
	for micro := 1; micro <= 5; micro++ {
		obj := newPQRangeObject("k", data)
		obj.micro = micro
		if n, err := pqReadObject(context.Background(), obj, Options{}); err != nil || n != want {
			t.Fatalf("micro-reads of up to %d bytes: %d rows, %v", micro, n, err)
		}
	}
}

// TestParquetCancel checks that Next checks its context even when the rows
// are served from a read-ahead window already in memory (no request), that
// a cancellation while a window is fetched ends the read after the rows
// before it, and that a cancelled open issues no request.
func TestParquetCancel(t *testing.T) {
	data := pqWriteFile(t, pqBenchRows(200000), parquet.MaxRowsPerRowGroup(20000))
	ctx, cancel := context.WithCancel(context.Background())
	obj := newPQRangeObject("k", data)
	r, err := openParquet(ctx, obj, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := schema.NewBatch(r.Schema(), DefaultBatchRows)
	if err := r.Next(ctx, b); err != nil {
		t.Fatal(err)
	}
	// head, tail, the first window, the second in the background
	for deadline := time.Now().Add(5 * time.Second); obj.requests.Load() < 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests: the second window is not fetched in the background", obj.requests.Load())
		}
	}
	cancel()
	before := obj.requests.Load()
	if err := r.Next(ctx, b); !errors.Is(err, context.Canceled) || b.Len() != 0 {
		t.Fatalf("Next with a cancelled context: %v, %d rows", err, b.Len())
	}
	if obj.requests.Load() != before {
		t.Fatal("a request was issued with a cancelled context")
	}

	// cancelled while the second read-ahead window is fetched in the
	// background (the requests are head, tail, the first window of 2 row
	// groups, then the second): some of the first window's rows, then
	// context.Canceled, and no request after that
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	obj = newPQRangeObject("k", data)
	obj.onOpen = func(n int64) {
		if n == 4 {
			cancel()
		}
	}
	r2, err := openParquet(ctx, obj, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	rows, _, err := pqReadAll(ctx, r2, 1000)
	var pe *ParseError
	if !errors.Is(err, context.Canceled) || errors.As(err, &pe) || len(rows) > 40000 || obj.requests.Load() != 4 {
		t.Fatalf("cancelled mid-read: %d rows, %d requests, %v; want at most 40000 rows, 4 requests, context.Canceled", len(rows), obj.requests.Load(), err)
	}

	// a cancelled open issues no request
	obj = newPQRangeObject("k", data)
	if _, err := openParquet(ctx, obj, Options{}); !errors.Is(err, context.Canceled) || obj.requests.Load() != 0 {
		t.Fatalf("open with a cancelled context: %v, %d requests", err, obj.requests.Load())
	}
}

// TestParquetRequests checks the ranged reads of each strategy: opening
// reads the footer with one request for a small file, head+tail for a
// larger one, one more for a footer over the prefetched tail; reading
// fetches small row groups in read-ahead windows (consecutive row groups,
// one request per engine.ReadAheadWindow, the next one while the current
// one is read), a row group over the window column by column; ranges are
// exact and nothing is fetched twice or past the object's end.
func TestParquetRequests(t *testing.T) {
	small := pqWriteFile(t, pqBenchRows(100))
	// 2 row groups of ~3.7 MB: one window each
	large := pqWriteFile(t, pqBenchRows(100000), parquet.MaxRowsPerRowGroup(50000))
	// 10 row groups of ~1.5 MB: 2 per window, 5 windows
	medium := pqWriteFile(t, pqBenchRows(200000), parquet.MaxRowsPerRowGroup(20000))
	// 400 row groups of ~3.7 KB: one window; the footer is over 64 KiB
	manyGroups := pqWriteFile(t, pqBenchRows(20000), parquet.MaxRowsPerRowGroup(50))
	// 3,000 one-row groups: one window
	tiny := pqTinyRowGroups(t, 3000)
	// one row group of 8.8 MB (over the window): 12 columns, each read
	// through its own buffer
	big := pqBenchFile(t, 300000, 300000)
	for _, tc := range []struct {
		name       string
		data       []byte
		open, read int64 // requests; read -1: one or more per column
	}{
		{"small", small, 1, 0},
		{"large", large, 2, 2},
		{"medium", medium, 2, 5},
		{"large footer", manyGroups, 3, 1},
		{"tiny row groups", tiny, 3, 1},
		{"row group over the window", big, 2, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := newPQRangeObject("k", tc.data)
			r, err := openParquet(context.Background(), obj, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := obj.requests.Load(); got != tc.open {
				t.Fatalf("open issued %d requests (%v), want %d", got, obj.ranges, tc.open)
			}
			rows, _, err := pqReadAll(context.Background(), r, 8192)
			if err != nil || int64(len(rows)) != r.Info().RowCount {
				t.Fatalf("%d rows, %v", len(rows), err)
			}
			read := obj.requests.Load() - tc.open
			switch {
			case tc.read >= 0 && read != tc.read:
				t.Fatalf("reading issued %d requests (%v), want %d", read, obj.ranges[tc.open:], tc.read)
			case tc.read < 0 && read < 12:
				t.Fatalf("reading a row group over the window issued %d requests, want one or more per column (12)", read)
			}
			for i, rg := range obj.ranges {
				if rg[0] < 0 || rg[1] > int64(len(tc.data)) || rg[0] >= rg[1] {
					t.Fatalf("bad range %v", rg)
				}
				if n := rg[1] - rg[0]; i >= int(tc.open) && n > engine.ReadAheadWindow {
					t.Fatalf("a read of %d bytes, over the window of %d", n, engine.ReadAheadWindow)
				}
			}
			// the footer's tail and the data may overlap by up to TailBytes
			if got := obj.bytes.Load(); got > int64(len(tc.data))+engine.TailBytes {
				t.Fatalf("%d bytes fetched for a %d-byte object", got, len(tc.data))
			}
			t.Logf("%d bytes: %d requests, %d bytes fetched", len(tc.data), obj.requests.Load(), obj.bytes.Load())
		})
	}
}

// TestObjectReaderAt checks the ranged io.ReaderAt every Parquet read goes
// through: exact ranges, io.EOF at the end, concurrent reads, and Open (not
// the Object's own ReadAt) even when the Object implements io.ReaderAt.
func TestObjectReaderAt(t *testing.T) {
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	obj := newPQRangeObject("k", data)
	src := newObjectReaderAt(obj, int64(len(data)))
	p := make([]byte, 100)
	if n, err := src.ReadAt(p, 50); n != 100 || err != nil || !bytes.Equal(p, data[50:150]) {
		t.Fatalf("ReadAt: %d %v", n, err)
	}
	if n, err := src.ReadAt(p, 950); n != 50 || err != io.EOF || !bytes.Equal(p[:50], data[950:]) {
		t.Fatalf("ReadAt past the end: %d %v", n, err)
	}
	if n, err := src.ReadAt(p, 1000); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt at the end: %d %v", n, err)
	}
	if got := obj.requests.Load(); got != 2 || obj.ranges[0] != [2]int64{50, 150} || obj.ranges[1] != [2]int64{950, 1000} {
		t.Fatalf("requests %d, ranges %v", got, obj.ranges)
	}
	// concurrent reads (run with -race)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 37)
			for off := int64(g); off < 900; off += 61 {
				if _, err := src.ReadAt(buf, off); err != nil || !bytes.Equal(buf, data[off:off+37]) {
					t.Errorf("concurrent ReadAt at %d: %v", off, err)
					return
				}
			}
		}()
	}
	wg.Wait()

	// an Object that is also an io.ReaderAt is still read with Open
	at := brokenAtObject{newPQRangeObject("k", data)}
	src = newObjectReaderAt(at, int64(len(data)))
	if n, err := src.ReadAt(p, 10); n != 100 || err != nil || !bytes.Equal(p, data[10:110]) || len(at.ranges) != 1 {
		t.Fatalf("ReaderAt object: %d %v, ranges %v", n, err, at.ranges)
	}

	// the context of the current call governs the reads
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src.setContext(ctx)
	before := at.requests.Load()
	if _, err := src.ReadAt(p, 10); !errors.Is(err, context.Canceled) || at.requests.Load() != before {
		t.Fatalf("ReadAt with a cancelled context: %v, %d requests", err, at.requests.Load()-before)
	}
}

// brokenAtObject is an Object whose own ReadAt panics, as one with a
// context fixed at its creation would fail once that context is gone.
type brokenAtObject struct {
	*pqRangeObject
}

func (brokenAtObject) ReadAt([]byte, int64) (int, error) {
	panic("ReadAt must not be used: it cannot take the call's context")
}

// TestParquetReadsThroughOpen checks that the production path reads every
// Object, io.ReaderAt or not, through ranged Open calls with the call's
// context, resuming bodies that break off.
func TestParquetReadsThroughOpen(t *testing.T) {
	data := pqWriteFile(t, pqBenchRows(50000), parquet.MaxRowsPerRowGroup(10000))
	want := pqBenchRows(50000)
	for _, preview := range []bool{false, true} {
		obj := brokenAtObject{newPQRangeObject("s3://b/k.parquet", data)}
		obj.breakBody = 1000
		obj.breakCount.Store(maxResumes) // every body of one read, but the last, breaks
		if preview {
			res, err := Preview(context.Background(), obj, Options{}, 5, 0)
			if err != nil || len(res.Rows) != 5 || res.RowCount != int64(len(want)) {
				t.Fatalf("preview: %v", err)
			}
		} else {
			r, err := Open(context.Background(), obj, Options{})
			if err != nil {
				t.Fatal(err)
			}
			rows, _, err := pqReadAll(context.Background(), r, 4096)
			r.Close()
			if err != nil || len(rows) != len(want) {
				t.Fatalf("%d rows, %v", len(rows), err)
			}
		}
		if obj.requests.Load() == 0 || obj.breakCount.Load() >= 0 {
			t.Fatalf("preview %v: %d requests, %d breaks left: the bodies did not go through Open", preview, obj.requests.Load(), obj.breakCount.Load())
		}
	}
}

// TestParquetHostileFooter: a footer declaring a list far larger than its
// bytes (parquet-go would allocate it up front: a fatal out-of-memory
// error) is refused before parquet-go decodes it, and so is a footer whose
// decoded structures would be too large.
func TestParquetHostileFooter(t *testing.T) {
	file := func(footer []byte) []byte {
		b := append([]byte("PAR1"), footer...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(footer)))
		return append(b, "PAR1"...)
	}
	// FileMetaData{2: list<struct> of 2^30 elements}
	huge := file([]byte{0x29, 0xfc, 0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 0x00})
	// FileMetaData{2: list<struct> of 3 M empty structs}, really there
	many := []byte{0x29, 0xfc}
	many = binary.AppendUvarint(many, 3_000_000)
	many = append(many, make([]byte, 3_000_001)...)
	deep := bytes.Repeat([]byte{0x1c}, 100) // struct in struct in ...
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"huge list", huge, ErrCorrupt},
		{"too much memory", file(many), ErrTooLarge},
		{"too deep", file(append(deep, make([]byte, 101)...)), ErrCorrupt},
		{"binary past the end", file([]byte{0x18, 0xff, 0xff, 0x03, 'a', 0x00}), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openParquet(context.Background(), newPQRangeObject("k", tc.data), Options{})
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
}
