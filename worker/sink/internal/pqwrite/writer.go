// Package pqwrite writes Parquet files of flat columns straight from typed
// vectors (schema.Vector): each column's values are appended to its open
// page as bytes in one typed loop (PLAIN for fixed-width values,
// DELTA_LENGTH_BYTE_ARRAY for strings), with its definition levels and its
// page statistics, and a full page is compressed and appended to the
// column's chunk. No parquet.Value is built per value and no row is
// assembled: that path (parquet-go's ColumnWriter) was, in a profile of
// Parquet → Parquet on two cores, a third of the CPU time.
//
// The files are what parquet-go v0.32 writes for the same schema and
// options (DATA_PAGE_V2 pages with a CRC, RLE definition levels, column
// chunk statistics, a column index and an offset index per chunk, the
// schema elements parquet-go derives from the parquet.Schema, created_by
// and key/value metadata), so every reader of the sink's files reads
// them; writer_test.go reads them back with parquet-go and checks every
// value, statistic and index, and the DuckDB benchmark (bench/duckdb)
// checks DuckDB's reading of them.
//
// Concurrency: a Writer's columns are independent. WriteColumn and
// FlushPage may run at the same time for different columns; every other
// method runs alone (after every column call returned). A row group is
// written to the file by a goroutine of the Writer while the next one is
// encoded (see writeRowGroup); Close and Abort wait for it.
package pqwrite

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// DefaultPageBytes is the default size of a page's encoded values before
// compression (Options.PageBytes): parquet-go's default page buffer size.
const DefaultPageBytes = 256 << 10

// Options configures a Writer. The zero value of each field is its
// documented default.
type Options struct {
	// Codec compresses every page's values; nil: uncompressed.
	Codec compress.Codec
	// PageBytes is the size of a page's encoded values at which the page
	// ends; 0: DefaultPageBytes. A page holds at least one value.
	PageBytes int
	// Buffers holds each column chunk's encoded pages until its row group
	// is written (parquet-go's BufferPool: an io.ReadWriteSeeker per
	// column and row group, returned once written); nil: memory.
	Buffers parquet.BufferPool
	// CreatedBy is the file's created_by ("app version X (build Y)", the
	// form parquet-mr parses); "": "pqwrite".
	CreatedBy string
	// KeyValue is the file's key/value metadata at the start (SetKeyValue
	// adds and replaces entries).
	KeyValue [][2]string
}

// outBuffer is the buffer of the Writer's output: chunks (and blocks) of
// its size or more pass straight through.
const outBuffer = 64 << 10

// ErrClosed is returned by calls on a closed Writer.
var ErrClosed = errors.New("pqwrite: writer is closed")

// Writer writes one Parquet file of flat columns.
type Writer struct {
	out    *bufio.Writer // batches a wide file's many small chunks
	offset int64         // bytes written to out
	opt    Options
	cols   []*column
	meta   format.FileMetaData
	// indexes holds the encoded column and offset index of every chunk
	// written, in row group order: written between the row groups and
	// the footer.
	indexes []chunkIndex
	// planned is the file's size once every row group ended so far is
	// written: where the next one starts.
	planned int64
	// pending is the result of the row group being written in the
	// background; nil: none.
	pending chan error
	closed  bool
	err     error // sticky: a failed write leaves the file unusable
}

// chunkIndex is the encoded page index of one column chunk and where its
// metadata points at it.
type chunkIndex struct {
	group, col  int
	column      []byte // ColumnIndex; nil: none
	offsetIndex []byte // OffsetIndex
}

// NewWriter returns a Writer of a file of the columns fields (Schema). It
// writes nothing to out before the first row group or Close.
func NewWriter(out io.Writer, fields []schema.Field, opt Options) (*Writer, error) {
	elems, orders, version, err := schemaElements(Schema(fields))
	if err != nil {
		return nil, err
	}
	if len(elems) != len(fields)+1 {
		return nil, fmt.Errorf("pqwrite: the Parquet schema has %d elements for %d columns (nested?)", len(elems), len(fields))
	}
	if opt.Codec == nil {
		opt.Codec = &parquet.Uncompressed
	}
	if opt.PageBytes <= 0 {
		opt.PageBytes = DefaultPageBytes
	}
	w := &Writer{out: bufio.NewWriterSize(out, outBuffer), opt: opt, cols: make([]*column, len(fields))}
	for i, f := range fields {
		e := elems[i+1]
		c, err := newColumn(f, e, &w.opt)
		if err != nil {
			return nil, err
		}
		w.cols[i] = c
	}
	w.meta = format.FileMetaData{
		Version:      version,
		Schema:       elems,
		ColumnOrders: orders,
		CreatedBy:    opt.CreatedBy,
	}
	if w.meta.CreatedBy == "" {
		w.meta.CreatedBy = "pqwrite"
	}
	for _, kv := range opt.KeyValue {
		w.SetKeyValue(kv[0], kv[1])
	}
	return w, nil
}

// schemaElements returns the schema elements, column orders and format
// version parquet-go writes for sch, read from the footer of an empty
// file it writes: so the schema of these files is exactly parquet-go's.
func schemaElements(sch *parquet.Schema) ([]format.SchemaElement, []format.ColumnOrder, int32, error) {
	var buf bytes.Buffer
	pw := parquet.NewWriter(&buf, sch)
	if err := pw.Close(); err != nil {
		return nil, nil, 0, fmt.Errorf("pqwrite: schema: %w", err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("pqwrite: schema: %w", err)
	}
	md := f.Metadata()
	return md.Schema, md.ColumnOrders, md.Version, nil
}

// SetKeyValue sets the key/value metadata entry key to value.
func (w *Writer) SetKeyValue(key, value string) {
	for i := range w.meta.KeyValueMetadata {
		if w.meta.KeyValueMetadata[i].Key == key {
			w.meta.KeyValueMetadata[i].Value = value
			return
		}
	}
	w.meta.KeyValueMetadata = append(w.meta.KeyValueMetadata, format.KeyValue{Key: key, Value: value})
}

// NumColumns returns the number of columns.
func (w *Writer) NumColumns() int { return len(w.cols) }

// WriteColumn appends the rows of v to column c. Every column of a row
// group must get the same rows before EndRowGroup. v must have the
// column's type; for a column that is not nullable, no row may be null.
// Safe to call concurrently for different columns.
func (w *Writer) WriteColumn(c int, v *schema.Vector) error {
	if w.closed {
		return ErrClosed
	}
	return w.cols[c].write(v)
}

// FlushPage ends column c's open page (a page holds at least the rows
// written since the last one). Safe to call concurrently for different
// columns.
func (w *Writer) FlushPage(c int) error {
	if w.closed {
		return ErrClosed
	}
	return w.cols[c].flushPage()
}

// Rows returns the rows of the open row group (those of column 0).
func (w *Writer) Rows() int64 { return w.cols[0].chunkRows + int64(w.cols[0].rows) }

// EndRowGroup ends every column's open page, writes the row group and
// starts the next. It does nothing when the row group is empty.
func (w *Writer) EndRowGroup() error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if len(w.cols) == 0 {
		return nil
	}
	for _, c := range w.cols {
		if err := c.flushPage(); err != nil {
			w.err = err
			return err
		}
	}
	rows := w.cols[0].chunkRows
	for i, c := range w.cols {
		if c.chunkRows != rows {
			w.err = fmt.Errorf("pqwrite: column %d has %d rows in the row group, column 0 has %d", i, c.chunkRows, rows)
			return w.err
		}
	}
	if rows == 0 {
		return nil
	}
	if err := w.writeRowGroup(rows); err != nil {
		w.err = err
		return err
	}
	return nil
}

// writeRowGroup ends the row group's chunks (their metadata and page
// indexes are done here: every chunk's size is known, so is where it will
// be in the file) and writes them: in the background without
// Options.Buffers, at most one row group at a time (the next EndRowGroup
// or Close waits for it), so that encoding the next row group goes on while
// the file is written; at once with Options.Buffers (whose buffers of a
// row group must all be returned before the next takes any: pageSpill
// then truncates its file).
func (w *Writer) writeRowGroup(rows int64) error {
	group := len(w.meta.RowGroups)
	if group == math.MaxInt16 {
		return fmt.Errorf("pqwrite: more than %d row groups (the format's limit): make them larger", math.MaxInt16)
	}
	magic := w.planned == 0
	if magic {
		w.planned = 4
	}
	rg := format.RowGroup{
		NumRows:    rows,
		FileOffset: w.planned,
		Ordinal:    int16(group),
		Columns:    make([]format.ColumnChunk, len(w.cols)),
	}
	chunks := make([]sealed, len(w.cols))
	for i, c := range w.cols {
		cc, idx, s, err := c.endChunk(w.planned, w.meta.Schema[i+1].Name)
		chunks[i] = s
		if err != nil {
			for j := range chunks {
				chunks[j].release(w.opt.Buffers)
			}
			return fmt.Errorf("pqwrite: column %d: %w", i, err)
		}
		w.planned += s.size
		rg.Columns[i] = cc
		rg.TotalByteSize += cc.MetaData.TotalUncompressedSize
		rg.TotalCompressedSize += cc.MetaData.TotalCompressedSize
		idx.group, idx.col = group, i
		w.indexes = append(w.indexes, idx)
	}
	w.meta.RowGroups = append(w.meta.RowGroups, rg)
	w.meta.NumRows += rows
	if err := w.wait(); err != nil {
		for j := range chunks {
			chunks[j].release(w.opt.Buffers)
		}
		return err
	}
	if w.opt.Buffers != nil {
		return w.writeChunks(magic, chunks)
	}
	done := make(chan error, 1)
	w.pending = done
	go func() { done <- w.writeChunks(magic, chunks) }()
	return nil
}

// writeChunks writes a row group's chunks (after the file's magic when it
// is the first) and returns their memory. A panic (of the output) is its
// error: it may run on the Writer's goroutine.
func (w *Writer) writeChunks(magic bool, chunks []sealed) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pqwrite: write row group: panic: %v", r)
		}
	}()
	if magic {
		err = w.write([]byte("PAR1"))
	}
	for i := range chunks {
		if err == nil {
			if err = chunks[i].write(w); err != nil {
				err = fmt.Errorf("pqwrite: write column %d: %w", i, err)
			}
		}
		chunks[i].release(w.opt.Buffers)
	}
	if err == nil {
		err = w.out.Flush()
	}
	return err
}

// wait waits for the row group being written in the background and
// returns its error.
func (w *Writer) wait() error {
	if w.pending == nil {
		return nil
	}
	err := <-w.pending
	w.pending = nil
	return err
}

// Abort stops the Writer without finishing the file: it waits for the row
// group being written, if any, and returns every buffer. The caller then
// closes (and removes) the file. Abort after Close does nothing.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	_ = w.wait()
	w.closed = true
	for _, c := range w.cols {
		c.release()
	}
}

// write writes p to out, counting the offset.
func (w *Writer) write(p []byte) error {
	n, err := w.out.Write(p)
	w.offset += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// Close ends the last row group and writes the page indexes and the
// footer. It does not close out. After an error the file is unusable
// (Close still waits for the background write and returns every buffer).
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	err := w.EndRowGroup()
	if werr := w.wait(); err == nil {
		err = werr
	}
	w.closed = true
	for _, c := range w.cols {
		c.release()
	}
	if err != nil {
		w.err = err
		return err
	}
	if w.planned == 0 {
		if err := w.write([]byte("PAR1")); err != nil {
			return err
		}
		w.planned = 4
	}
	if w.offset != w.planned {
		return fmt.Errorf("pqwrite: wrote %d bytes, planned %d", w.offset, w.planned)
	}
	// The page indexes: every column index, then every offset index (as
	// parquet-go and parquet-mr lay them out).
	var buf []byte
	base := w.offset
	for _, idx := range w.indexes {
		if idx.column == nil {
			continue
		}
		cc := &w.meta.RowGroups[idx.group].Columns[idx.col]
		cc.ColumnIndexOffset = base + int64(len(buf))
		cc.ColumnIndexLength = int32(len(idx.column))
		buf = append(buf, idx.column...)
	}
	for _, idx := range w.indexes {
		cc := &w.meta.RowGroups[idx.group].Columns[idx.col]
		cc.OffsetIndexOffset = base + int64(len(buf))
		cc.OffsetIndexLength = int32(len(idx.offsetIndex))
		buf = append(buf, idx.offsetIndex...)
	}
	w.indexes = nil
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &w.meta)
	if err != nil {
		return fmt.Errorf("pqwrite: encode footer: %w", err)
	}
	buf = append(buf, footer...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(footer)))
	buf = append(buf, "PAR1"...)
	if err := w.write(buf); err != nil {
		return err
	}
	return w.out.Flush()
}
