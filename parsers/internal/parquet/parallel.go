package parquet

import (
	"runtime"
	"slices"
	"sync"

	"github.com/parquet-go/parquet-go/format"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// The columns of a row group are independent: each has its own column
// chunk, page reader, decompressor and output vector. fill reads the flat
// columns of each sub-batch in parallel, on up to Config.Workers goroutines
// (GOMAXPROCS by default), so that decompressing and converting one
// object's columns uses every core. A parallel sub-batch is up to
// parallelUnit rows (a default batch), so that each goroutine has enough
// work to pay for its start (a sleeping vCPU takes 50-200 µs to wake on
// the project's VMs); fewer when the text of that many rows (at the last
// sub-batch's bytes per row) would take the batch past its text budget
// (shared.MaxBatchBytes, or a share of it: Config.Batches),
// never fewer than subBatch, as a sequential read. The context and the
// batch's bytes are checked between sub-batches. The flat columns are sorted most expensive first
// (byte arrays, then 8- and 12-byte values): the started goroutines take
// them from the front, the calling goroutine from the back.
//
// The goroutines live inside one fill call: fill starts workers-1 of them,
// works itself, and waits for all before it returns, so none outlives a
// call to Next, whatever ends it (an error, a panic of parquet-go, the
// context between sub-batches). The memory is that of a sequential read:
// each column already has its own read buffer and decoded page; the
// read-ahead window (readahead.go) is replaced only between row groups, on
// the calling goroutine.
//
// The result is the sequential read's: every column fills its own vector;
// the rows that do not convert are listed column by column in b's order;
// the error returned is that of the first column in b's order that failed.
//
// Nested columns (their assembler is shared) and widened columns are read
// on the calling goroutine while the other goroutines start on the flat
// columns; the calling goroutine then joins them. The rescue column is
// filled after all others.

// minParallelRows: a sub-batch of fewer rows (the end of a row group, a
// file of tiny row groups) is read on the calling goroutine, cheaper than
// starting another.
const minParallelRows = 256

// parallelUnit is the most rows of a parallel sub-batch.
const parallelUnit = 4 * subBatch

// unitRows is how many rows the next fill of b reads at most: r.unit, fewer
// when their text would pass the batch's text budget (see above).
func (r *Reader) unitRows(b *schema.Batch) int {
	u := r.unit
	if u > subBatch && r.textPerRow > 0 {
		room := (r.textCap - batchBytes(b)) / r.textPerRow
		u = max(subBatch, min(u, room))
	}
	return u
}

// resolveWorkers returns the number of goroutines that read a batch's
// columns: Config.Workers, or GOMAXPROCS when it is <= 0.
func resolveWorkers(n int) int {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return max(n, 1)
}

// inParallel reports whether output column i is read by fillParallel.
func (r *Reader) inParallel(i int) bool {
	if r.workers < 2 || i == r.resc.col {
		return false
	}
	j := r.srcCol[i]
	if j < 0 || !r.cols[j].flat {
		return false
	}
	return r.resc.widen == nil || r.resc.widen[i] == 0
}

// parallelColumns sets r.par, the output columns read in parallel, most
// expensive first, and r.isPar.
func (r *Reader) parallelColumns() {
	r.par, r.isPar = nil, make([]bool, len(r.out.Fields))
	for i := range r.out.Fields {
		if r.inParallel(i) {
			r.par = append(r.par, i)
			r.isPar[i] = true
		}
	}
	if len(r.par) < 2 {
		r.par, r.isPar = nil, make([]bool, len(r.out.Fields))
		return
	}
	cost := func(i int) int {
		switch r.leaves[r.cols[r.srcCol[i]].node.first].kind {
		case format.ByteArray, format.FixedLenByteArray:
			return 0
		case format.Int64, format.Double, format.Int96:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(r.par, func(x, y int) int { return cost(x) - cost(y) })
}

// fillParallel fills output columns cols of b (n rows from base) on up to
// r.workers goroutines, the calling one included, which first runs first
// (the columns read on it); each column's rows that do not convert go to
// r.colErrs and its error to r.colFail. It returns once every column is
// done, even when first panics.
func (r *Reader) fillParallel(b *schema.Batch, base, n int, cols []int, first func()) {
	// cols is sorted most expensive first: the started goroutines take
	// from the front, the calling one (already running) from the back, so
	// that a goroutine that starts late still gets an expensive column and
	// the calling one keeps busy meanwhile.
	var mu sync.Mutex
	lo, hi := 0, len(cols)
	claim := func(front bool) (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if lo >= hi {
			return 0, false
		}
		if front {
			lo++
			return cols[lo-1], true
		}
		hi--
		return cols[hi], true
	}
	work := func(front bool) {
		for {
			i, ok := claim(front)
			if !ok {
				return
			}
			r.colFail[i] = r.fillFlatColumn(b, i, base, n)
		}
	}
	workers := min(r.workers, len(cols))
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(workers - 1)
	for range workers - 1 {
		go func() {
			defer wg.Done()
			work(true)
		}()
	}
	first()
	work(false)
}

// fillFlatColumn is fillColumn for a flat column, safe to run in parallel
// with other columns: a panic of parquet-go is this column's error.
func (r *Reader) fillFlatColumn(b *schema.Batch, i, base, n int) (err error) {
	j := r.srcCol[i]
	defer func() {
		if p := recover(); p != nil {
			err = r.panickedIn(p, r.cols[j].field.Name)
		}
	}()
	v := &b.Cols[i]
	errs := &r.colErrs[i]
	if err := r.readFlat(v, j, i, base, n, r.asText[i], errs); err != nil {
		return err
	}
	return r.checkColumn(v, i, base, errs)
}
