package sink

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// pageSpill is the page buffer pool (parquet.BufferPool) of a wide file's
// Writer: the encoded pages of the open row group, one buffer per column
// chunk, which the Writer (pqwrite) copies into the file when the row
// group ends. They are kept in memory up to memLimit bytes for the whole
// writer; past it, pages are appended to one unlinked temporary file
// (freed by the kernel when the writer closes it or the process dies), and
// the file is truncated once the row group is written and every buffer is
// returned. So a wide schema, whose row group holds thousands of small
// column chunks, costs memLimit of heap for its pages. (Narrow files keep
// their pages in pqwrite's memory blocks.)
type pageSpill struct {
	dir      string
	memLimit int

	mu   sync.Mutex
	mem  int           // bytes of memory held by outstanding buffers
	out  int           // outstanding buffers
	f    *os.File      // spill file, created on the first spill
	w    *bufio.Writer // appends to f
	size int64         // bytes appended to f, buffered ones included

	copyBuf []byte // reads of the spill file
}

// spillWriteBuffer bounds the buffered appends to the spill file.
const spillWriteBuffer = 256 << 10

func newPageSpill(dir string, memLimit int) *pageSpill {
	return &pageSpill{dir: dir, memLimit: memLimit}
}

// GetBuffer implements parquet.BufferPool.
func (p *pageSpill) GetBuffer() io.ReadWriteSeeker {
	p.mu.Lock()
	p.out++
	p.mu.Unlock()
	return &spillBuffer{p: p}
}

// PutBuffer implements parquet.BufferPool.
func (p *pageSpill) PutBuffer(rws io.ReadWriteSeeker) {
	b, ok := rws.(*spillBuffer)
	if !ok || b.p != p {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mem -= cap(b.mem)
	b.mem, b.ext, b.p = nil, nil, nil
	p.out--
	if p.out == 0 && p.size > 0 {
		// The row group is written: nothing in the file is needed.
		p.w.Reset(p.f)
		if err := p.f.Truncate(0); err == nil {
			if _, err := p.f.Seek(0, io.SeekStart); err == nil {
				p.size = 0
			}
		}
	}
}

// close releases the spill file.
func (p *pageSpill) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		p.f.Close()
		p.f, p.w = nil, nil
	}
}

// appendFile appends data to the spill file and returns its offset.
func (p *pageSpill) appendFile(data []byte) (int64, error) {
	if p.f == nil {
		f, err := os.CreateTemp(p.dir, "pages-*")
		if err != nil {
			return 0, fmt.Errorf("create page spill file: %w", err)
		}
		_ = os.Remove(f.Name()) // unlinked: freed on close, even by a crash
		p.f, p.w = f, bufio.NewWriterSize(f, spillWriteBuffer)
	}
	off := p.size
	n, err := p.w.Write(data)
	p.size += int64(n)
	if err != nil {
		return 0, fmt.Errorf("write page spill file: %w", err)
	}
	return off, nil
}

// spillBuffer is one column's page buffer: in-memory bytes first, then
// extents of the spill file (once a buffer spills, it only appends there,
// so its bytes are mem followed by ext in order).
type spillBuffer struct {
	p   *pageSpill
	mem []byte
	ext []extent
	n   int64 // length
	pos int64 // read/seek position
}

// extent is a range of the spill file.
type extent struct{ off, n int64 }

func (b *spillBuffer) Write(data []byte) (int, error) {
	if b.p == nil {
		return 0, os.ErrClosed
	}
	if b.pos != b.n {
		return 0, errors.New("page buffer: write not at the end")
	}
	p := b.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(b.ext) == 0 && p.mem+len(data) <= p.memLimit || len(data) == 0 {
		c := cap(b.mem)
		b.mem = append(b.mem, data...)
		p.mem += cap(b.mem) - c
	} else {
		off, err := p.appendFile(data)
		if err != nil {
			return 0, err
		}
		if k := len(b.ext) - 1; k >= 0 && b.ext[k].off+b.ext[k].n == off {
			b.ext[k].n += int64(len(data))
		} else {
			b.ext = append(b.ext, extent{off, int64(len(data))})
		}
	}
	b.n += int64(len(data))
	b.pos = b.n
	return len(data), nil
}

func (b *spillBuffer) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.pos
	case io.SeekEnd:
		offset += b.n
	default:
		return b.pos, errors.New("page buffer: bad whence")
	}
	if offset < 0 || offset > b.n {
		return b.pos, errors.New("page buffer: seek out of range")
	}
	b.pos = offset
	return offset, nil
}

func (b *spillBuffer) Read(data []byte) (int, error) {
	if b.pos >= b.n {
		return 0, io.EOF
	}
	if b.pos < int64(len(b.mem)) {
		n := copy(data, b.mem[b.pos:])
		b.pos += int64(n)
		return n, nil
	}
	p := b.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.w.Flush(); err != nil {
		return 0, fmt.Errorf("write page spill file: %w", err)
	}
	at := int64(len(b.mem))
	for _, e := range b.ext {
		if b.pos < at+e.n {
			skip := b.pos - at
			want := min(int64(len(data)), e.n-skip)
			n, err := p.f.ReadAt(data[:want], e.off+skip)
			b.pos += int64(n)
			if err == io.EOF && int64(n) == want {
				err = nil
			}
			return n, err
		}
		at += e.n
	}
	return 0, io.EOF
}

// WriteTo writes the rest of the buffer to w (io.Copy's path).
func (b *spillBuffer) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if b.pos < int64(len(b.mem)) {
		n, err := w.Write(b.mem[b.pos:])
		total += int64(n)
		b.pos += int64(n)
		if err != nil {
			return total, err
		}
	}
	if b.pos >= b.n {
		return total, nil
	}
	p := b.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.w.Flush(); err != nil {
		return total, fmt.Errorf("write page spill file: %w", err)
	}
	if p.copyBuf == nil {
		p.copyBuf = make([]byte, spillWriteBuffer)
	}
	at := int64(len(b.mem))
	for _, e := range b.ext {
		for b.pos < at+e.n {
			skip := b.pos - at
			chunk := p.copyBuf[:min(int64(len(p.copyBuf)), e.n-skip)]
			n, err := p.f.ReadAt(chunk, e.off+skip)
			if n < len(chunk) {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return total, fmt.Errorf("read page spill file: %w", err)
			}
			n, err = w.Write(chunk)
			total += int64(n)
			b.pos += int64(n)
			if err != nil {
				return total, err
			}
		}
		at += e.n
	}
	return total, nil
}
