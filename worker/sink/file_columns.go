package sink

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/parquet-go/parquet-go"
)

// Parallel column writes.
//
// A Writer's Write converts each column of the batch into Parquet values
// and hands them to the column's parquet.ColumnWriter, which buffers them
// and, once a page is full (or at a row group's end: flushColumns),
// encodes, compresses and appends the page to the column's page buffer.
// That is most of the CPU a file costs, and columns are independent: the
// columns of a batch are written by up to FileOptions.Parallelism
// goroutines at once, each taking the next unwritten column, each column
// by one goroutine. The file itself (row groups, footer) is still written
// by the Writer's caller, between Writes, as before.
//
// Why this is safe with parquet-go v0.32.0 (writer.go): what a
// ColumnWriter's WriteRowValues and Flush touch is
//
//   - its own state: column buffer, page header encoder and buffer,
//     column index, level histograms, page locations, and its own element
//     of the row group's columnChunk and offsetIndex arrays (distinct
//     elements of the one array: no two goroutines write the same word);
//   - package pools shared by every writer of the process, made for
//     concurrent use: the page scratch buffers (dataPageBuffers, a
//     sync.Pool), the encodings' scratch (sync.Pool) and the memory page
//     buffers (memoryBufferPool, a sync.Pool);
//   - the page buffer pool of the Writer (ColumnPageBuffers): parquet-go
//     requires a BufferPool to be safe for concurrent use; ours, the wide
//     files' pageSpill, holds its lock for every change of its shared state
//     (memory count, spill file, its bufio.Writer), and each spillBuffer
//     is used by one column;
//   - the codec (compress.Codec instances must be safe for concurrent
//     use: Snappy and LZ4 are stateless, zstd keeps a pool of encoders)
//     and the encodings and column types, which are stateless;
//   - the batch's vectors, which are only read, and each goroutine's own
//     []parquet.Value scratch.
//
// Writer.Flush (a row group) and Close run only after every column
// goroutine of the Write has returned. Dictionary encoding and bloom
// filters, which the sink does not configure, would stay per column too.
//
// Every goroutine is started and waited for inside one call (Write,
// flushColumns): none outlives it, so Abort or Commit in the middle of
// nothing leaks none. The first failing column (in column order) fails
// the call and the Writer (sticky, as before); the other goroutines take
// no new column once one failed. A panic in a column goroutine is
// returned as that column's error rather than killing the process (the
// caller's own goroutine panics as before).

// forColumns runs fn for columns 0..n-1 on up to w.parallel goroutines,
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
			*col = int(next.Add(1) - 1)
			if *col >= n {
				return
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

// writeColumns writes batch columns into the column writers, one column
// per goroutine at a time; wide files end each column's page (flushPages).
func (w *fileWriter) writeColumns(cols []*parquet.ColumnWriter, vecs int, valuesOf func(worker, col int) []parquet.Value) error {
	return w.forColumns(vecs, "write", func(worker, c int) error {
		vals := valuesOf(worker, c)
		_, err := cols[c].WriteRowValues(vals)
		clear(vals) // drop references to the batch's bytes
		if err != nil {
			return err
		}
		if w.flushPages {
			// A wide file: the column's values go into a page now, so its
			// buffers return to parquet-go's pool for the next column.
			return cols[c].Flush()
		}
		return nil
	})
}

// flushColumns encodes and compresses every column's buffered values into
// pages, in parallel, before the row group is written (parquet-go's
// Flush and Close would do it one column after the other).
func (w *fileWriter) flushColumns() error {
	cols := w.pw.ColumnWriters()
	return w.forColumns(len(cols), "write", func(_, c int) error { return cols[c].Flush() })
}
