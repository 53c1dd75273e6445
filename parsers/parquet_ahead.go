package parsers

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3ingest/s3ingest/parsers/internal/parquet"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Reading a Parquet object one batch ahead of Next.
//
// The engine decodes a batch's columns on every core, and the caller (the
// worker's FileSink) encodes and compresses them on every core; called in
// turn, each waits for the slowest column of the other, and two cores were
// measured busy 1.5 of the time. So when more than one core is available
// (and outside previews), a goroutine fills the next batch while the
// caller uses the one Next returned: Next hands over the batch the
// goroutine filled (swapping it with the caller's, whose contents the
// caller no longer needs) and starts the goroutine on the one after.
//
// What stays as with one goroutine:
//   - the rows, their order, the rejected rows and every error (where a
//     batch ends may differ: see memory);
//   - OnReject is called by Next, on the caller's goroutine, in row order:
//     the goroutine hands each rejected row over to Next and waits for the
//     answer, so an error budget stops the read exactly where it would; a
//     panic of OnReject is the read's error, as the engine makes it;
//   - memory: the engine fills each batch to half of the batch budgets
//     (parquet.Config.Batches), and the spare batch is allocated for that
//     half; the caller's own batch counts at the size it allocated.
//
// Next swaps the batch the goroutine filled with the caller's: after Next,
// b's vectors are other arrays than before, and the goroutine writes into
// the ones the caller handed back (see Reader.Next: nothing taken from a
// batch stays valid across calls).
//
// The goroutine has one owner (the reader), fills one batch at a time and
// ends when that batch is filled; Close cancels it (its reads end too)
// and waits for it. Its reads are governed by the reader's own context,
// derived from the one Open was given (so cancelling the job stops them),
// not by the one of the Next call that started it (a later Next may come
// with another): a cancelled Next returns at once, the batch in flight is
// kept for the next call, and Close stops the read.
type parquetAhead struct {
	eng      *parquet.Reader
	onReject func(*ParseError) error // the caller's; nil: none
	ctx      context.Context         // the goroutine's, cancelled by close
	cancel   context.CancelFunc
	spare    *schema.Batch   // the batch the goroutine fills
	pending  bool            // the goroutine is running
	done     chan error      // its result
	rejects  chan rejectCall // its rejected rows, answered by next
	final    error           // the error that ended the read (io.EOF included)
	closed   bool
}

// rejectCall is a rejected row the goroutine hands to Next.
type rejectCall struct {
	pe    *ParseError
	reply chan error // buffered: Next's answer never blocks
}

var errClosedReader = errors.New("parsers: Next on a closed reader")

// newParquetAhead returns the read-ahead of a reader opened with ctx.
func newParquetAhead(ctx context.Context, onReject func(*ParseError) error) *parquetAhead {
	a := &parquetAhead{onReject: onReject, done: make(chan error, 1), rejects: make(chan rejectCall)}
	a.ctx, a.cancel = context.WithCancel(ctx)
	return a
}

// next resets b and fills it with the next batch (see Reader.Next).
func (a *parquetAhead) next(ctx context.Context, b *schema.Batch) error {
	b.Reset()
	switch {
	case a.closed:
		return errClosedReader
	case a.final != nil:
		return a.final
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s := a.eng.Schema(); len(b.Cols) != len(s.Fields) {
		// as the engine says it, and not sticky either
		return fmt.Errorf("parquet: batch has %d columns, schema has %d: use schema.NewBatch(reader.Schema(), n)", len(b.Cols), len(s.Fields))
	}
	if !a.pending {
		if a.spare == nil {
			a.spare = schema.NewBatch(a.eng.Schema(), a.eng.BatchRows())
		}
		a.start()
	}
	for {
		select {
		case c := <-a.rejects:
			c.reply <- a.callOnReject(c.pe)
		case err := <-a.done:
			a.pending = false
			*b, *a.spare = *a.spare, *b
			if err != nil {
				a.final = err // the engine's errors are sticky: so are ours
				return err
			}
			a.start()
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// callOnReject calls the caller's OnReject; a panic is its error.
func (a *parquetAhead) callOnReject(pe *ParseError) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parsers: OnReject panicked on %s: %v", pe.Object, p)
		}
	}()
	return a.onReject(pe)
}

// start fills a.spare on the goroutine.
func (a *parquetAhead) start() {
	a.pending = true
	b := a.spare
	go func() { a.done <- a.eng.Next(a.ctx, b) }()
}

// reject is the engine's OnReject on the goroutine: Next makes the call.
func (a *parquetAhead) reject(pe *ParseError) error {
	c := rejectCall{pe: pe, reply: make(chan error, 1)}
	select {
	case a.rejects <- c:
	case <-a.ctx.Done():
		return a.ctx.Err()
	}
	select {
	case err := <-c.reply:
		return err
	case <-a.ctx.Done():
		return a.ctx.Err()
	}
}

// close stops the goroutine and waits for it.
func (a *parquetAhead) close() {
	a.cancel()
	if a.pending {
		<-a.done
		a.pending = false
	}
	a.closed = true
}
