package parsers

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// The pipeline of a CSV or JSON reader opened by Open.
//
// Stages, each in its own goroutine and joined by bounded queues:
//
//	read-ahead   the object's body and its decompression (prefetch.go);
//	             for chunks of an uncompressed stream it reads straight
//	             into the feeder's chunk buffers instead
//	feeder       replays the sample, then either parses the rest itself
//	             (one parser) or cuts it into chunks at record boundaries
//	             (split.go) for the workers
//	workers      Options.Parallelism parsers, one chunk each at a time,
//	             into typed batches
//	consumer     Next, in the caller's goroutine: takes the batches in
//	             object order and makes the OnReject and OnWarning calls
//
// Jobs (the sample and what one parser reads, or one chunk) are queued in
// object order on order; each job hands its batches over on its own
// channel (one batch queued, one being filled), so the consumer reads the
// batches of job k before those of job k+1: rows keep the object's order,
// and batches hold the same rows, lines and values as with one parser
// (only where a batch ends differs: a chunk's last batch is smaller).
// Producers never call OnReject or OnWarning: they record rejects (and
// JSON keys outside the columns) with the batch, and Next makes the calls
// in row order, never concurrently, before it returns the batch. An error
// of OnReject, a fatal error, a cancelled context of Next and Close stop
// every goroutine of the pipeline (Close and the error paths wait for
// them); the error is then returned by every later Next.
//
// Memory: at most k = batchesInFlight(W) batches are alive (the
// consumer's, per producer one being filled, per job of the order queue
// one queued). Each holds at most schema.BatchFixedBytes/k of lines,
// nulls, numbers and offsets and shared.MaxBatchBytes/2/k of text, plus
// the row that crosses the cap: at most ChunkBytes in a chunk's batch;
// a record of up to MaxLineBytes in a batch of the feeder, which is not
// read ahead of (at most two such batches are alive: the consumer's and
// the one being filled). Chunks take (W+2) × ChunkBytes, the read-ahead
// 1 MiB (none while it reads into the chunks). See the package doc for
// the whole budget.

// event is a callback the consumer makes for a producer, in row order.
type event struct {
	pe  *ParseError // a rejected row: OnReject
	key string      // a JSON key outside the columns: OnWarning (deduplicated by the consumer)
}

// oversizeSlack is how far the text of a batch may pass its cap (by the
// last row) and still be read ahead of the consumer: in parallel chunks no
// record is longer than ChunkBytes.
const oversizeSlack = 1 << 20

// maxBatchEvents bounds the events recorded with one batch: an object of
// rejected rows hands over empty batches with their rejects.
const maxBatchEvents = 1024

// result is what a job hands over: a batch (possibly empty), the events
// met while filling it, or the error that ends the job (and the read).
type result struct {
	b      *schema.Batch
	events []event
	err    error
	big    bool // the batch passes its text cap by more than oversizeSlack
}

// job is the sample and what one parser reads, or one chunk.
type job struct {
	out  chan result // closed when the job is done
	data []byte      // a chunk: its records
	buf  []byte      // a chunk: its pooled buffer
	line int64       // a chunk: the line of its first byte
}

// pipeline is the state shared by the goroutines of a reader's pipeline.
type pipeline struct {
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	order   chan *job
	work    chan *job
	free    chan *schema.Batch // batches for reuse (room for all)
	cur     *job               // the job the consumer reads
	workers int
	// textCap is the text cap of a batch. A batch of the feeder (the one
	// parser of the sample, or of the rest of a stream) whose text passes
	// it by more than oversizeSlack (a record of up to MaxLineBytes and
	// its rescued JSON) is handed over without read-ahead: the feeder
	// waits on released until the consumer has let it go (its next Next),
	// and recycle drops it rather than keep its capacity.
	textCap  int
	released chan struct{}
	holdsBig bool // the consumer's batch is such a batch

	chunkSize int
	chunks    chan []byte // pooled chunk buffers
	// sent and fallbacks count the chunks queued and the parsers that
	// read the rest of a stream (feeder only; read after the pipeline
	// stopped, by tests).
	sent, fallbacks int
	mu              sync.Mutex
	allocated       int // chunk buffers made, at most cap(chunks)
}

// batchesInFlight is the most batches alive in a pipeline with w workers:
// the consumer's, one being filled per producer (w workers and the feeder,
// or the feeder alone when w is 1), and one queued per job that holds
// batches (the consumer's job and those on the order queue). Batches are
// recycled (never dropped), so no more are ever made.
func batchesInFlight(w int) int { return 1 + producers(w) + jobsAhead(w) + 1 }

// producers is the number of goroutines filling batches with w workers.
func producers(w int) int {
	if w > 1 {
		return w + 1
	}
	return 1
}

// jobsAhead is the capacity of the order queue: the jobs queued ahead of
// the one the consumer reads (enough for every worker to have one).
func jobsAhead(w int) int {
	if w > 1 {
		return w
	}
	return 1
}

func newJob() *job { return &job{out: make(chan result, 1)} }

// send queues r on j; false when the pipeline is stopped.
func (p *pipeline) send(j *job, r result) bool {
	select {
	case j.out <- r:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// enqueue puts j on the order queue (and on the work queue for a chunk).
func (p *pipeline) enqueue(j *job, chunk bool) bool {
	select {
	case p.order <- j:
	case <-p.ctx.Done():
		return false
	}
	if !chunk {
		return true
	}
	select {
	case p.work <- j:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// batch returns an empty batch to fill: the one kept for reuse, or a new
// one.
func (p *pipeline) batch(r *reader) *schema.Batch {
	select {
	case b := <-p.free:
		return b
	default:
		return schema.NewBatch(r.schema, r.batchRows)
	}
}

// recycle keeps b for reuse if there is room and it holds no more text
// than a batch grows to under its cap.
func (p *pipeline) recycle(b *schema.Batch) {
	if b == nil || textBytes(b) > 2*(p.textCap+oversizeSlack) {
		return
	}
	b.Reset()
	select {
	case p.free <- b:
	default:
	}
}

// textBytes is the memory of the text of b's values.
func textBytes(b *schema.Batch) int {
	n := 0
	for i := range b.Cols {
		n += cap(b.Cols[i].Bytes)
	}
	return n
}

// chunkBuf returns a chunk buffer, waiting for one when all are in use.
func (p *pipeline) chunkBuf() ([]byte, bool) {
	select {
	case b := <-p.chunks:
		return b, true
	default:
	}
	p.mu.Lock()
	if p.allocated < cap(p.chunks) {
		p.allocated++
		p.mu.Unlock()
		return make([]byte, p.chunkSize), true
	}
	p.mu.Unlock()
	select {
	case b := <-p.chunks:
		return b, true
	case <-p.ctx.Done():
		return nil, false
	}
}

// releaseChunk returns a chunk buffer to the pool.
func (p *pipeline) releaseChunk(b []byte) {
	if b != nil {
		p.chunks <- b[:cap(b)] // never blocks: the pool has room for every buffer
	}
}

// startPipeline starts the goroutines of the pipeline (at the first Next,
// so that a reader opened for its schema only starts none).
func (r *reader) startPipeline() {
	parent := context.Background()
	if r.stream != nil && r.stream.bodyCtx != nil {
		parent = r.stream.bodyCtx // the context of Open
	}
	ctx, cancel := context.WithCancel(parent)
	w := r.parallelWorkers()
	p := &pipeline{ctx: ctx, cancel: cancel, order: make(chan *job, jobsAhead(w)), workers: w}
	p.free = make(chan *schema.Batch, batchesInFlight(w))
	p.released = make(chan struct{}, 1)
	r.pipe = p
	k := batchesInFlight(w)
	rows := schema.BatchRows(r.schema, r.opts.BatchRows)
	rows = max(1, min(rows, schema.BatchFixedBytes/k/schema.RowBytes(r.schema)))
	p.textCap = shared.MaxBatchBytes / 2 / k
	feeder := r.producer(rows, p.textCap)
	feeder.feeder = true
	if w > 1 {
		p.chunkSize = max(min(r.opts.ChunkBytes, r.opts.MaxLineBytes), 1)
		p.chunks = make(chan []byte, w+2)
		p.work = make(chan *job, w)
		for range w {
			wr := feeder.worker()
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				wr.work(p)
			}()
		}
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.order)
		if p.work != nil {
			defer close(p.work)
		}
		feeder.feed(p)
	}()
}

// stopPipeline stops the pipeline's goroutines and the stream's
// read-ahead, and waits for them.
func (r *reader) stopPipeline() {
	p := r.pipe
	if p == nil {
		return
	}
	p.cancel()
	if r.stream != nil {
		r.stream.stopReadAhead()
	}
	p.wg.Wait()
}

// fail makes err the sticky error of Next and stops the pipeline.
func (r *reader) fail(err error) error {
	r.perr = err
	r.stopPipeline()
	return err
}

// producer returns a copy of r that fills batches of at most rows rows and
// textCap bytes of text for a pipeline, recording its events. The copy
// owns the source from now on (r keeps it only to close the stream).
func (r *reader) producer(rows, textCap int) *reader {
	pr := &reader{}
	*pr = *r
	pr.pipelined, pr.pipe, pr.perr = false, nil, nil
	pr.batchRows, pr.textCap = rows, textCap
	pr.row = rowBuf{}
	pr.jsonBuf = nil
	pr.resc = r.resc.clone()
	if js, ok := pr.src.(*jsonSource); ok {
		js.p.cols = pr.colsCopy(js.p.cols)
	}
	return pr
}

// colsCopy returns a copy of the frozen columns c that hands unknown keys
// to pr's events.
func (pr *reader) colsCopy(c *jsonCols) *jsonCols {
	cc := *c
	cc.unknown = nil
	cc.guess = 0
	cc.onUnknown = func(k string) {
		if pr.rec != nil {
			*pr.rec = append(*pr.rec, event{key: k})
		}
	}
	return &cc
}

// nextPiped is Next of a pipelined reader.
func (r *reader) nextPiped(ctx context.Context, b *schema.Batch) error {
	b.Reset()
	if r.perr != nil {
		return r.perr
	}
	if err := ctx.Err(); err != nil {
		return r.fail(err)
	}
	if len(b.Cols) != len(r.schema.Fields) {
		return fmt.Errorf("parsers: batch has %d columns, schema has %d: use schema.NewBatch(reader.Schema(), n)", len(b.Cols), len(r.schema.Fields))
	}
	if r.pipe == nil {
		r.startPipeline()
	}
	p := r.pipe
	if p.holdsBig {
		p.holdsBig = false
		p.released <- struct{}{} // never blocks: one oversized batch at a time
	}
	for {
		if p.cur == nil {
			select {
			case j, ok := <-p.order:
				if !ok && p.ctx.Err() != nil {
					// cancelled (the context of Open): not the end
					return r.fail(p.ctx.Err())
				}
				if !ok {
					r.perr = io.EOF
					r.stopPipeline()
					return io.EOF
				}
				p.cur = j
			case <-ctx.Done():
				return r.fail(ctx.Err())
			}
		}
		var res result
		var ok bool
		select {
		case res, ok = <-p.cur.out:
		case <-ctx.Done():
			return r.fail(ctx.Err())
		}
		if !ok {
			if err := p.ctx.Err(); err != nil {
				return r.fail(err) // the job may have stopped short
			}
			p.cur = nil
			continue
		}
		for _, e := range res.events {
			if err := r.deliver(e); err != nil {
				p.recycle(res.b)
				return r.fail(err)
			}
		}
		if res.err != nil {
			p.recycle(res.b)
			return r.fail(res.err)
		}
		if res.b == nil || res.b.Len() == 0 {
			p.recycle(res.b)
			continue
		}
		b.Cols, res.b.Cols = res.b.Cols, b.Cols
		b.Lines, res.b.Lines = res.b.Lines, b.Lines
		p.recycle(res.b)
		p.holdsBig = res.big
		return nil
	}
}

// deliver makes the callback of an event.
func (r *reader) deliver(e event) error {
	if e.pe != nil {
		if r.opts.OnReject == nil {
			return e.pe
		}
		return r.opts.OnReject(e.pe)
	}
	if r.cols != nil {
		r.cols.unknownKey([]byte(e.key))
	}
	return nil
}

// runSeq fills batches with pr's parser until the end of its source (or
// an error) and hands them over on j. It reports whether the source ended
// cleanly.
func (pr *reader) runSeq(ctx context.Context, p *pipeline, j *job) bool {
	defer close(j.out)
	for {
		b := p.batch(pr)
		var ev []event
		pr.rec = &ev
		err := pr.next(ctx, b)
		pr.rec = nil
		switch {
		case err == nil:
			big := pr.feeder && pr.lastText > p.textCap+oversizeSlack
			if !p.send(j, result{b: b, events: ev, big: big}) {
				return false
			}
			if big {
				// no read-ahead past an oversized batch
				select {
				case <-p.released:
				case <-ctx.Done():
					return false
				}
			}
		case err == io.EOF:
			if len(ev) > 0 && !p.send(j, result{events: ev}) {
				return false
			}
			p.recycle(b)
			return true
		default:
			p.send(j, result{events: ev, err: err})
			return false
		}
	}
}
