package parsers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
)

// FileObject returns a local file as an Object (which also implements
// io.ReaderAt). The file is opened once to check it exists and learn its
// size; every Open opens it again, so the Object is safe for concurrent
// use.
func FileObject(path string) (Object, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a file", path)
	}
	return &fileObject{path: path, size: st.Size()}, nil
}

type fileObject struct {
	path string
	size int64
}

func (f *fileObject) Name() string { return f.path }
func (f *fileObject) Size() int64  { return f.size }

// Open streams the bytes [off, off+n) of the file.
func (f *fileObject) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	if off < 0 {
		off = 0
	}
	if n < 0 {
		n = f.size - off
	}
	if n < 0 {
		n = 0
	}
	return &sectionCloser{SectionReader: io.NewSectionReader(fh, off, n), c: fh}, nil
}

// ReadAt implements io.ReaderAt.
func (f *fileObject) ReadAt(p []byte, off int64) (int, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	return fh.ReadAt(p, off)
}

type sectionCloser struct {
	*io.SectionReader
	c io.Closer
}

func (s *sectionCloser) Close() error { return s.c.Close() }

// BytesObject returns an in-memory Object named name, for tests, fuzzing and
// small uploads. It implements io.ReaderAt. b is not copied and must not be
// modified while the Object is in use.
func BytesObject(name string, b []byte) Object { return &bytesObject{name: name, b: b} }

type bytesObject struct {
	name string
	b    []byte
}

func (o *bytesObject) Name() string { return o.name }
func (o *bytesObject) Size() int64  { return int64(len(o.b)) }

// Open streams the bytes [off, off+n) of the buffer.
func (o *bytesObject) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	size := int64(len(o.b))
	if off < 0 {
		off = 0
	}
	if off > size {
		off = size
	}
	end := size
	if n >= 0 && off+n < size {
		end = off + n
	}
	return io.NopCloser(bytes.NewReader(o.b[off:end])), nil
}

// ReadAt implements io.ReaderAt.
func (o *bytesObject) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(o.b).ReadAt(p, off)
}
