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

const (
	readAheadBufs     = 4
	readAheadBufBytes = 256 << 10
)

// aheadReader is an io.Reader over bytes read ahead by its goroutine.
type aheadReader struct {
	ctx    context.Context
	cancel context.CancelFunc
	full   chan []byte // filled buffers, in stream order
	free   chan []byte // buffers to fill
	done   chan struct{}
	err    error // the stream's final error, set before full is closed
	cur    []byte
	curBuf []byte
	once   sync.Once
}

// newAheadReader starts reading r ahead until ctx is done. stop must be
// called (it waits for the goroutine).
func newAheadReader(ctx context.Context, r io.Reader) *aheadReader {
	ctx, cancel := context.WithCancel(ctx)
	a := &aheadReader{ctx: ctx, cancel: cancel, full: make(chan []byte, readAheadBufs),
		free: make(chan []byte, readAheadBufs), done: make(chan struct{})}
	for range readAheadBufs {
		a.free <- make([]byte, readAheadBufBytes)
	}
	go a.run(r)
	return a
}

func (a *aheadReader) run(r io.Reader) {
	defer close(a.done)
	defer close(a.full)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
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

// Read implements io.Reader.
func (a *aheadReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(a.cur) == 0 {
		if a.curBuf != nil {
			a.free <- a.curBuf // never blocks: free has room for every buffer
			a.curBuf = nil
		}
		buf, ok := <-a.full
		if !ok {
			return 0, a.err
		}
		a.cur, a.curBuf = buf, buf[:cap(buf)]
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// stop ends the goroutine and waits for it. The reader it reads must be
// unblocked by its owner (the object's context) if a read can block.
func (a *aheadReader) stop() {
	a.once.Do(func() {
		a.cancel()
		<-a.done
	})
}
