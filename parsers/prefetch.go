package parsers

import (
	"context"
	"io"
	"sync"
)

// Read-ahead of an object's (decompressed) bytes.
//
// A reader opened by Open reads its stream in a goroutine of its own: the
// object's body and, for a compressed object, the decompressor run ahead of
// the parser, so fetching and decompression overlap parsing. The goroutine
// fills at most readAheadBufs buffers of readAheadBufBytes (1 MiB in all)
// and stops when they are full until the parser consumes one; it stops for
// good at the end of the stream, at an error (handed to the parser in
// order, after the bytes before it) and when the stream is closed (Close
// cancels the object's context, so a read blocked on the network returns,
// and waits for the goroutine before it closes the decompressor).
//
// A parser that cuts an uncompressed stream into chunks for parallel
// workers (see split.go) switches the reader to direct reads (goDirect):
// its workers parse while it reads, and a copy from the read-ahead's
// buffers into its chunks would cost a pass over every byte. Once the
// buffers already read are consumed, the goroutine reads straight into
// the caller's buffer (one read per Read, filled or up to the stream's
// end or error: the splitter's chunk, or the stream's bufio buffer for a
// smaller read) and reads nothing ahead; its buffers are dropped. If the
// splitter falls back to one parser for the rest of the stream, goAhead
// switches back to reading ahead, so that fetching overlaps parsing again.

const (
	readAheadBufs     = 4
	readAheadBufBytes = 256 << 10
)

// aheadReader is an io.Reader over bytes read ahead by its goroutine.
type aheadReader struct {
	ctx    context.Context
	cancel context.CancelFunc
	full   chan []byte // filled buffers, in stream order; nil: direct reads follow
	free   chan []byte // buffers to fill
	done   chan struct{}
	err    error // the stream's final error, set before full is closed (or done, after direct reads)
	cur    []byte
	curBuf []byte
	once   sync.Once

	// direct reads (goDirect, goAhead)
	directc   chan struct{}       // closed by goDirect
	aheadc    chan struct{}       // closed by goAhead
	req       chan []byte         // the caller's buffer to fill
	resp      chan aheadDirectRes // the answer to each req (room for one)
	direct    bool                // the caller switched to direct reads (caller side)
	resumed   bool                // and back (caller side)
	drained   bool                // the caller took the nil marker and reads directly (caller side)
	dropped   bool                // and let the buffers go (caller side)
	directErr error               // the last direct read's error, returned again (caller side)
}

// aheadDirectRes is the answer to a direct read.
type aheadDirectRes struct {
	n   int
	err error
}

// newAheadReader starts reading r ahead until ctx is done. stop must be
// called (it waits for the goroutine).
func newAheadReader(ctx context.Context, r io.Reader) *aheadReader {
	ctx, cancel := context.WithCancel(ctx)
	a := &aheadReader{ctx: ctx, cancel: cancel, full: make(chan []byte, readAheadBufs),
		free: make(chan []byte, readAheadBufs), done: make(chan struct{}),
		directc: make(chan struct{}), aheadc: make(chan struct{}), req: make(chan []byte),
		resp: make(chan aheadDirectRes, 1)}
	for range readAheadBufs {
		a.free <- make([]byte, readAheadBufBytes)
	}
	go a.run(r)
	return a
}

func (a *aheadReader) run(r io.Reader) {
	defer close(a.done)
	defer close(a.full)
	directc := a.directc // nil once direct reads are over
	for {
		var buf []byte
		select {
		case <-directc:
			if !a.runDirect(r) {
				return
			}
			directc = nil
			continue
		default:
		}
		select {
		case buf = <-a.free:
		case <-directc:
			if !a.runDirect(r) {
				return
			}
			directc = nil
			continue
		case <-a.ctx.Done():
			a.err = a.ctx.Err()
			return
		}
		n, err := readFull(a.ctx, r, buf[:cap(buf)])
		if n > 0 {
			select {
			case a.full <- buf[:n]:
			case <-a.ctx.Done():
				a.err = a.ctx.Err()
				return
			}
		}
		if err != nil {
			a.err = err
			return
		}
	}
}

// runDirect marks the end of the read-ahead buffers and then fills the
// caller's buffers, one per request, until goAhead (it returns true: read
// ahead again), the stream's end or error, or ctx is done.
func (a *aheadReader) runDirect(r io.Reader) bool {
	select {
	case a.full <- nil:
	case <-a.ctx.Done():
		a.err = a.ctx.Err()
		return false
	}
	for {
		select {
		case p := <-a.req:
			n, err := readFull(a.ctx, r, p)
			a.resp <- aheadDirectRes{n, err} // never blocks: one answer per request
			if err != nil {
				a.err = err
				return false
			}
		case <-a.aheadc:
			return true
		case <-a.ctx.Done():
			a.err = a.ctx.Err()
			return false
		}
	}
}

// readFull reads until buf is full, the stream ends or fails, or ctx is
// done (checked between reads).
func readFull(ctx context.Context, r io.Reader, buf []byte) (int, error) {
	n, empty := 0, 0
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			if empty++; empty >= 100 {
				return n, io.ErrNoProgress
			}
		}
	}
	return n, nil
}

// goDirect switches the reader to direct reads (see the top of the file).
// Like Read, it is called by the reader's (one at a time) caller.
func (a *aheadReader) goDirect() {
	if !a.direct {
		a.direct = true
		close(a.directc)
	}
}

// goAhead switches a reader back from direct reads to reading ahead (once;
// later calls, and calls without goDirect, do nothing). Called by the
// caller, between reads.
func (a *aheadReader) goAhead() {
	if !a.direct || a.resumed {
		return
	}
	a.resumed, a.drained = true, false
	close(a.aheadc)
	if a.dropped && a.directErr == nil {
		// all the buffers were let go at the switch: new ones (none
		// after the stream ended or failed: the goroutine is gone)
		for range readAheadBufs {
			a.free <- make([]byte, readAheadBufBytes)
		}
		a.dropped = false
	}
}

// Read implements io.Reader.
func (a *aheadReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(a.cur) == 0 {
		if a.curBuf != nil {
			a.free <- a.curBuf // never blocks: free has room for every buffer
			a.cur, a.curBuf = nil, nil
		}
		if a.drained {
			return a.readDirect(p)
		}
		buf, ok := <-a.full
		if !ok {
			return 0, a.err
		}
		if buf == nil {
			if a.resumed {
				continue // the goroutine went back to reading ahead
			}
			a.drained = true
			a.dropBuffers()
			return a.readDirect(p)
		}
		a.cur, a.curBuf = buf, buf[:cap(buf)]
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// dropBuffers lets the read-ahead's buffers go once direct reads begin:
// all of them are back in free (the caller returned the last one before it
// took the marker, and the goroutine holds none while it reads directly).
func (a *aheadReader) dropBuffers() {
	a.dropped = true
	for {
		select {
		case <-a.free:
		default:
			return
		}
	}
}

// readDirect has the goroutine fill p (or read to the stream's end or
// error).
func (a *aheadReader) readDirect(p []byte) (int, error) {
	if a.directErr != nil {
		return 0, a.directErr
	}
	select {
	case a.req <- p:
	case <-a.done:
		a.directErr = a.err // the goroutine stopped: ctx is done
		return 0, a.directErr
	}
	res := <-a.resp
	a.directErr = res.err
	return res.n, res.err
}

// stop ends the goroutine and waits for it. The reader it reads must be
// unblocked by its owner (the object's context) if a read can block.
func (a *aheadReader) stop() {
	a.once.Do(func() {
		a.cancel()
		<-a.done
	})
}
