package parsers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Test helpers of the Parquet reader (prefixed pq to stay clear of the other
// parsers' tests).

// pqRangeObject is an in-memory Object read, as every Object is, through
// ranged Open calls as against S3. It counts requests and can inject
// faults.
type pqRangeObject struct {
	name string
	b    []byte
	size int64 // reported size; -1 for unknown

	requests atomic.Int64
	bytes    atomic.Int64
	mu       sync.Mutex
	ranges   [][2]int64

	// failAfter > 0 makes request number failAfter (1-based) and later fail
	// with failErr.
	failAfter int64
	failErr   error
	// breakBody > 0 makes every body break off with io.ErrUnexpectedEOF
	// (a reset connection) after that many bytes, breakCount times.
	breakBody  int
	breakCount atomic.Int64
	// onOpen is called on each request (e.g. to cancel a context).
	onOpen func(n int64)
	// micro > 0 makes bodies return 1 to micro bytes per Read.
	micro int
	// latency delays each request (a first-byte latency); bandwidth > 0
	// delays it by its size at that many bytes per second as well.
	latency   time.Duration
	bandwidth int64
}

// pqMicroReader returns 1, 2, ... max bytes per Read, cycling.
type pqMicroReader struct {
	r   io.Reader
	max int
	n   int
}

func (m *pqMicroReader) Read(p []byte) (int, error) {
	m.n = m.n%m.max + 1
	if len(p) > m.n {
		p = p[:m.n]
	}
	return m.r.Read(p)
}

func newPQRangeObject(name string, b []byte) *pqRangeObject {
	return &pqRangeObject{name: name, b: b, size: int64(len(b))}
}

func (o *pqRangeObject) Name() string { return o.name }
func (o *pqRangeObject) Size() int64  { return o.size }

func (o *pqRangeObject) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k := o.requests.Add(1)
	if d := o.latency + o.transfer(n); d > 0 {
		time.Sleep(d)
	}
	if o.onOpen != nil {
		o.onOpen(k)
	}
	if o.failAfter > 0 && k >= o.failAfter {
		return nil, o.failErr
	}
	size := int64(len(o.b))
	if off > size {
		off = size
	}
	end := size
	if n >= 0 && off+n < size {
		end = off + n
	}
	o.mu.Lock()
	o.ranges = append(o.ranges, [2]int64{off, end})
	o.mu.Unlock()
	o.bytes.Add(end - off)
	var r io.Reader = bytes.NewReader(o.b[off:end])
	if o.breakBody > 0 && o.breakCount.Add(-1) >= 0 {
		r = io.MultiReader(io.LimitReader(r, int64(o.breakBody)), pqErrReader{io.ErrUnexpectedEOF})
	}
	if o.micro > 0 {
		r = &pqMicroReader{r: r, max: o.micro}
	}
	return io.NopCloser(r), nil
}

// transfer is how long n bytes take at o.bandwidth.
func (o *pqRangeObject) transfer(n int64) time.Duration {
	if o.bandwidth <= 0 || n <= 0 {
		return 0
	}
	return time.Duration(n * int64(time.Second) / o.bandwidth)
}

type pqErrReader struct{ err error }

func (e pqErrReader) Read([]byte) (int, error) { return 0, e.err }

// pqAtObject is an in-memory Object that also implements io.ReaderAt (as
// the S3 source's Object does); the Parquet reader must not use it.
type pqAtObject struct {
	*pqRangeObject
}

func (o pqAtObject) ReadAt(p []byte, off int64) (int, error) {
	o.requests.Add(1)
	return bytes.NewReader(o.b).ReadAt(p, off)
}

// pqWriteFile writes rows with parquet-go's generic writer.
func pqWriteFile[T any](t testing.TB, rows []T, opts ...parquet.WriterOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pqReadAll reads every batch of r into rows of plain values; it returns
// the rows read before an error, with the error.
func pqReadAll(ctx context.Context, r Reader, batch int) ([][]any, []int64, error) {
	b := schema.NewBatch(r.Schema(), batch)
	var rows [][]any
	var lines []int64
	for {
		err := r.Next(ctx, b)
		for i := range b.Len() {
			rows = append(rows, b.Row(i))
			lines = append(lines, b.Lines[i])
		}
		if err == io.EOF {
			return rows, lines, nil
		}
		if err != nil {
			return rows, lines, err
		}
		if b.Len() == 0 {
			return rows, lines, errors.New("Next returned an empty batch without io.EOF")
		}
	}
}

// pqOpenBytes opens b through ranged reads.
func pqOpenBytes(t testing.TB, b []byte, opts Options) Reader {
	t.Helper()
	r, err := openParquet(context.Background(), newPQRangeObject("mem.parquet", b), opts)
	if err != nil {
		t.Fatalf("openParquet: %v", err)
	}
	return r
}

// pqCorpusDir is the copy of the apache/parquet-testing corpus kept in
// testdata (see its SOURCE file).
const pqCorpusDir = "testdata/parquet-testing"

func pqCorpus(t testing.TB) string {
	t.Helper()
	if st, err := os.Stat(pqCorpusDir); err != nil || !st.IsDir() {
		t.Fatalf("the parquet-testing corpus is missing at %s: %v", pqCorpusDir, err)
	}
	return pqCorpusDir
}

func pqFormatRows(rows [][]any) string {
	var b bytes.Buffer
	for _, r := range rows {
		fmt.Fprintln(&b, pqFormatRow(r))
	}
	return b.String()
}

func pqFormatRow(r []any) string {
	var b bytes.Buffer
	for i, v := range r {
		if i > 0 {
			b.WriteString(" | ")
		}
		switch v := v.(type) {
		case nil:
			b.WriteString("NULL")
		case json.RawMessage:
			b.Write(v)
		case []byte:
			b.Write(v)
		case fmt.Stringer:
			b.WriteString(v.String())
		default:
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}

// pqConfRow is a row of the Parquet conformance cases and fuzz seeds.
type pqConfRow struct {
	ID    int64     `parquet:"id"`
	Name  *string   `parquet:"name,optional"`
	Score float64   `parquet:"score"`
	At    time.Time `parquet:"at,timestamp(millisecond)"`
	Day   int32     `parquet:"day,date"`
	OK    bool      `parquet:"ok"`
	Price int64     `parquet:"price,decimal(2:12)"`
}

func pqConfRows(n int) []pqConfRow {
	rows := make([]pqConfRow, n)
	for i := range rows {
		rows[i] = pqConfRow{ID: int64(i + 1), Score: float64(i) + 0.5, At: time.UnixMilli(1704067200000 + int64(i)*1500).UTC(),
			Day: int32(19723 + i), OK: i%2 == 0, Price: int64(i*100 + 5)}
		if i%3 != 1 {
			s := string(rune('a' + i))
			rows[i].Name = &s
		}
	}
	return rows
}
