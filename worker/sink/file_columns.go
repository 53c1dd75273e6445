package sink

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Parallel column writes.
//
// A Writer's Write appends each column of the batch to the column's open
// page in the Parquet writer (pqwrite), which, once a page is full (or at
// a row group's end: flushColumns), encodes, compresses and appends the
// page to the column's chunk. That is most of the CPU a file costs, and
// columns are independent: the columns of a batch are written by up to
// FileOptions.Parallelism goroutines at once, each taking the next
// unwritten column, each column by one goroutine. The file itself (row
// groups, page indexes, footer) is written by the Writer's caller,
// between Writes.
//
// Why this is safe: pqwrite's WriteColumn and FlushPage touch only their
// column's state (open page, scratch, chunk buffer, page list); the page
// buffer pool of a wide file (pageSpill) holds its lock for every change
// of its shared state (memory count, spill file, its bufio.Writer), and
// each spillBuffer is used by one column; the codec is safe for concurrent
// use (compress.Codec's contract: Snappy and LZ4 are stateless, zstd keeps
// a pool of encoders); the batch's vectors are only read. EndRowGroup and
// Close run only after every column goroutine of the call has returned.
//
// Every goroutine is started and waited for inside one call (Write,
// flushColumns): none outlives it, so Abort or Commit in the middle of
// nothing leaks none. The first failing column (in column order) fails
// the call and the Writer (sticky, as before); the other goroutines take
// no new column once one failed. A panic in a column goroutine is
// returned as that column's error rather than killing the process (the
// caller's own goroutine panics as before).

// costOrder returns the columns' indexes, the most expensive to write
// first (byte arrays, then 8-byte values, then the rest; in column order
// within each), the order forColumns hands them out in: a goroutine that
// takes the last column then has one of the cheapest, and the call does
// not wait at its end for one long column that started late.
func costOrder(fields []schema.Field) []int {
	order := make([]int, len(fields))
	for i := range order {
		order[i] = i
	}
	cost := func(t schema.Type) int {
		switch t {
		case schema.String, schema.JSON:
			return 0
		case schema.Int64, schema.Timestamp, schema.Float64:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(order, func(a, b int) int { return cost(fields[a].Type) - cost(fields[b].Type) })
	return order
}

// forColumns runs fn for columns 0..n-1 (n: every column of the writer),
// in w.order (costOrder; nil: column order), on up to w.parallel goroutines,
// the caller's among them (worker 0), and returns the error of the first
// failing column in column order, wrapped with its name.
func (w *fileWriter) forColumns(n int, what string, fn func(worker, col int) error) error {
	wrap := func(c int, err error) error {
		return fmt.Errorf("file sink: %s column %q: %w", what, w.fields[c].Name, err)
	}
	workers := min(w.parallel, n)
	if workers <= 1 {
		for c := range n {
			if err := fn(0, c); err != nil {
				return wrap(c, err)
			}
		}
		return nil
	}
	var (
		next   atomic.Int64 // the next column to take
		failed atomic.Bool
		mu     sync.Mutex
		errCol = n // the first failed column, guarded by mu
		first  error
		wg     sync.WaitGroup
	)
	fail := func(c int, err error) {
		failed.Store(true)
		mu.Lock()
		if c < errCol {
			errCol, first = c, err
		}
		mu.Unlock()
	}
	loop := func(worker int, col *int) {
		for !failed.Load() {
			k := int(next.Add(1) - 1)
			if k >= n {
				return
			}
			*col = k
			if w.order != nil {
				*col = w.order[k]
			}
			if err := fn(worker, *col); err != nil {
				fail(*col, err)
				return
			}
		}
	}
	// run is one worker; a panic in fn is its column's error, on the
	// caller's goroutine too, so every goroutine is waited for below.
	run := func(i int) {
		col := -1
		defer func() {
			if r := recover(); r != nil {
				fail(max(col, 0), fmt.Errorf("panic: %v", r))
			}
		}()
		loop(i, &col)
	}
	wg.Add(workers - 1)
	for i := 1; i < workers; i++ {
		go func() {
			defer wg.Done()
			run(i)
		}()
	}
	run(0)
	wg.Wait()
	if first != nil {
		return wrap(errCol, first)
	}
	return nil
}

// writeColumns writes the columns of b, one column per goroutine at a
// time; wide files end each column's page (flushPages).
func (w *fileWriter) writeColumns(b *schema.Batch) error {
	return w.forColumns(len(b.Cols), "write", func(_, c int) error {
		if err := w.pw.WriteColumn(c, &b.Cols[c]); err != nil {
			return err
		}
		if w.flushPages {
			// A wide file: the column's values go into a page now, so
			// its page memory is reused by the next column.
			return w.pw.FlushPage(c)
		}
		return nil
	})
}

// flushColumns encodes and compresses every column's open page, in
// parallel, before the row group is written (the Writer's EndRowGroup
// would do it one column after the other).
func (w *fileWriter) flushColumns() error {
	return w.forColumns(w.pw.NumColumns(), "write", func(_, c int) error { return w.pw.FlushPage(c) })
}
