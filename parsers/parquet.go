package parsers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Parquet reading.
//
// The object is read through a ranged io.ReaderAt (see pqSource), never
// whole: the footer first, then one row group at a time, each column through
// parquet-go's page reader. Memory is bounded by the row group prefetch
// limit plus one read buffer and one decoded page per column, whatever the
// size of the file.
//
// Errors: content problems (bad magic, a footer or page that does not
// decode, a decompression failure, levels or values that do not add up) are
// *ParseError wrapping ErrCorrupt, with the row group, the first row not
// delivered and the column; encrypted files, unknown codecs and encodings are
// *ParseError wrapping ErrUnsupported, with a message starting
// "unsupported: "; a value that does not convert (see parquet_schema.go) is a
// row-level *ParseError wrapping ErrType, handed to Options.OnReject. Errors
// of the object itself (network, cancellation) are returned wrapped, never as
// a *ParseError. parquet-go panics on some malformed input: every entry point
// recovers and reports a panic as ErrCorrupt.

const (
	// pqSubBatch is how many rows are converted per column at a time.
	pqSubBatch = 2048
	// pqMaxBatchBytes ends a batch early once its text passes this size.
	pqMaxBatchBytes = 32 << 20
	// pqReadBudget is shared by the per-column read buffers: each column
	// reads through a buffer of pqReadBudget/columns bytes, between
	// pqMinReadBuffer and pqMaxReadBuffer. Each buffer refill is one
	// ranged request.
	pqReadBudget    = 32 << 20
	pqMinReadBuffer = 256 << 10
	pqMaxReadBuffer = 4 << 20
	// pqPrefetchRowGroup: a row group no larger than this is fetched with
	// one request before its columns are read.
	pqPrefetchRowGroup = 8 << 20
	// Preview reads smaller windows: it needs the first pages only.
	pqPreviewReadBuffer = 256 << 10
	pqPreviewPrefetch   = 1 << 20
	// pqMaxWarnings caps the rejected-row warnings of a preview.
	pqMaxWarnings = 20
)

// pqReader implements Reader for Parquet.
type pqReader struct {
	name   string
	opts   Options
	src    *pqSource
	file   *parquet.File
	md     *format.FileMetaData
	leaves []*pqLeaf
	cols   []pqColumn
	out    *schema.Schema
	info   Info
	// per output column: the file column it reads (-1: none, all null) and
	// whether values are rendered as text (a string target of
	// Options.Schema).
	srcCol    []int
	asText    []bool
	checkNull []bool // per output column: nulls are row errors
	need      []bool // per leaf: read by some output column

	prefetchMax int64
	rows        int64 // rows in the row groups

	rg       int   // current row group, -1 before the first
	rgLeft   int64 // rows left in the current row group
	row      int64 // file row index of the next row
	chunks   []pqChunk
	levels   [][]pqLevels // per output column (nested): per leaf
	asm      pqAsm
	rowErrs  []pqRowErr
	keep     []bool
	eof      bool
	err      error // sticky
	closed   bool
	curCol   string // column being read, for panics
	warnings []string
}

// openParquet opens a Parquet object. obj.Size() must be known. The footer
// is read with one ranged request (two for a footer over 64 KiB), plus one
// for the 4-byte head magic; no data page is read before Next.
func openParquet(ctx context.Context, obj Object, opts Options) (Reader, error) {
	r, err := openPQ(ctx, obj, opts, false)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// previewParquet reads the footer and the first pages of obj: the result
// has the total row count, the schema with a reason per column and up to
// rows rows (DefaultPreviewRows if rows <= 0). Rows that do not convert are
// skipped and listed in Warnings (unless opts.OnReject decides otherwise).
func previewParquet(ctx context.Context, obj Object, opts Options, rows int) (res *PreviewResult, err error) {
	if rows <= 0 {
		rows = DefaultPreviewRows
	}
	var warnings []string
	user := opts.OnReject
	opts.OnReject = func(pe *ParseError) error {
		if user != nil {
			if err := user(pe); err != nil {
				return err
			}
		}
		if len(warnings) < pqMaxWarnings {
			warnings = append(warnings, "rejected: "+pe.Error())
		}
		return nil
	}
	opts.BatchRows = rows
	r, err := openPQ(ctx, obj, opts, true)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	res = &PreviewResult{Info: r.info, Schema: r.out, Rows: [][]any{}}
	b := schema.NewBatch(r.out, min(rows, 1<<16))
	for len(res.Rows) < rows {
		err := r.Next(ctx, b)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		for i := 0; i < b.Len() && len(res.Rows) < rows; i++ {
			res.Rows = append(res.Rows, b.Row(i))
		}
	}
	res.Truncated = int64(len(res.Rows)) < r.info.RowCount
	res.Warnings = append(r.warnings, warnings...)
	return res, nil
}

// openPQ does the work of openParquet and previewParquet.
func openPQ(ctx context.Context, obj Object, opts Options, preview bool) (_ *pqReader, err error) {
	if opts.BatchRows <= 0 {
		opts.BatchRows = DefaultBatchRows
	}
	name := obj.Name()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	size := obj.Size()
	if size < 0 {
		return nil, &ParseError{Object: name, Err: fmt.Errorf("%w: Parquet needs the object's size, and it is unknown", ErrUnsupported),
			Hint: "the source must report the object's size (HeadObject) for Parquet"}
	}
	if size < 12 {
		return nil, pqCorrupt(name, -1, 0, "", fmt.Errorf("%d bytes is too small for a Parquet file", size))
	}
	src := newPQSource(obj, size)
	src.setContext(ctx)
	r := &pqReader{name: name, opts: opts, src: src, rg: -1}
	defer func() {
		if p := recover(); p != nil {
			err = r.panicked(p)
		}
		if err != nil {
			r.Close()
		}
	}()

	if err := src.prefetch(); err != nil {
		return nil, err
	}
	footer, err := r.footer(size)
	if err != nil {
		return nil, err
	}
	nleaves := 0
	readBuf := pqPreviewReadBuffer
	r.prefetchMax = pqPreviewPrefetch
	if !preview {
		nleaves = pqCountLeaves(footer)
		readBuf = pqReadBuffer(nleaves)
		r.prefetchMax = pqPrefetchRowGroup
	}
	f, err := parquet.OpenFile(src, size,
		parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(readBuf),
		// The footer is already cached by prefetch: an optimistic read
		// would fetch ReadBufferSize bytes of the tail again.
		parquet.OptimisticRead(false),
	)
	if err != nil {
		return nil, r.openError(err, footer)
	}
	r.file = f
	r.md = f.Metadata()
	if err := r.checkMetadata(); err != nil {
		return nil, err
	}
	root, leaves, err := pqSchema(r.md.Schema)
	if err != nil {
		return nil, r.schemaError(err)
	}
	if len(leaves) == 0 {
		return nil, pqCorrupt(name, -1, 0, "", errors.New("the schema has no columns"))
	}
	r.leaves = leaves
	r.cols = pqColumns(root)
	if err := r.bindSchema(); err != nil {
		return nil, err
	}
	r.need = make([]bool, len(leaves))
	for _, j := range r.srcCol {
		if j >= 0 {
			n := r.cols[j].node
			for k := n.first; k < n.first+n.nleaves; k++ {
				r.need[k] = true
			}
		}
	}
	r.info = Info{Format: FormatParquet, Compression: CompressionNone, RowCount: r.rows}
	r.chunks = make([]pqChunk, len(leaves))
	r.levels = make([][]pqLevels, len(r.cols))
	for i, c := range r.cols {
		if !c.flat {
			r.levels[i] = make([]pqLevels, c.node.nleaves)
		}
	}
	return r, nil
}

// pqReadBuffer sizes the per-column read buffer (a power of two).
func pqReadBuffer(columns int) int {
	b := pqReadBudget / max(columns, 1)
	b = max(pqMinReadBuffer, min(pqMaxReadBuffer, b))
	return 1 << (bits.Len(uint(b)) - 1)
}

// footer checks the magic bytes and caches the footer; it returns the
// footer's bytes.
func (r *pqReader) footer(size int64) ([]byte, error) {
	src := r.src
	head := string(src.head)
	tail := src.tail
	magic := string(tail[len(tail)-4:])
	switch {
	case head == "PARE" || magic == "PARE":
		return nil, r.encrypted("the footer is encrypted (magic PARE)")
	case head != "PAR1":
		return nil, pqCorrupt(r.name, -1, 0, "", fmt.Errorf("%w: it starts with %q, not \"PAR1\"", errNotParquet, head))
	case magic != "PAR1":
		return nil, pqCorrupt(r.name, -1, 0, "", fmt.Errorf("the file does not end with \"PAR1\" (%q): truncated or not Parquet", magic))
	}
	n := int64(tail[len(tail)-8]) | int64(tail[len(tail)-7])<<8 | int64(tail[len(tail)-6])<<16 | int64(tail[len(tail)-5])<<24
	if n <= 0 || n > size-12 {
		return nil, pqCorrupt(r.name, -1, 0, "", fmt.Errorf("footer length %d does not fit a file of %d bytes", n, size))
	}
	if n > pqMaxFooterBytes {
		return nil, &ParseError{Object: r.name, Err: fmt.Errorf("%w: the footer is %d bytes (limit %d)", ErrTooLarge, n, pqMaxFooterBytes)}
	}
	start := size - 8 - n
	if err := src.extendTail(start); err != nil {
		return nil, err
	}
	footer := src.tail[start-src.tailOff : size-src.tailOff-8]
	if err := pqCheckFooter(footer); err != nil {
		return nil, &ParseError{Object: r.name, Err: err}
	}
	return footer, nil
}

// pqFooterSchema is the part of the footer (FileMetaData field 2) needed
// to size read buffers before parquet-go decodes the whole footer.
type pqFooterSchema struct {
	Schema []format.SchemaElement `thrift:"2,required"`
}

// pqCountLeaves counts the leaf columns declared in a footer; it is only used
// to size read buffers, so a footer it cannot decode counts as 16.
func pqCountLeaves(footer []byte) (n int) {
	defer func() {
		if recover() != nil {
			n = 16
		}
	}()
	var fs pqFooterSchema
	var proto thrift.CompactProtocol
	if err := thrift.NewDecoder(proto.NewReaderFromBytes(footer)).Decode(&fs); err != nil {
		return 16
	}
	for i := range fs.Schema {
		if fs.Schema[i].Type.Valid && i > 0 {
			n++
		}
	}
	return max(n, 1)
}

func (r *pqReader) encrypted(what string) error {
	return &ParseError{Object: r.name, Err: fmt.Errorf("%w: encrypted Parquet file (%s)", ErrUnsupported, what),
		Hint: "s3ingest cannot decrypt Parquet modular encryption; write the file without encryption"}
}

// openError classifies an error of parquet.OpenFile.
func (r *pqReader) openError(err error, footer []byte) error {
	if ioErr := r.src.err(); ioErr != nil {
		return ioErr
	}
	// A plaintext footer of an encrypted file (its signature makes
	// parquet-go fail) or encrypted columns.
	var md format.FileMetaData
	var proto thrift.CompactProtocol
	if derr := pqDecodeFooter(&proto, footer, &md); derr == nil && pqIsEncrypted(&md) {
		return r.encrypted("encrypted columns with a plaintext footer")
	}
	msg := err.Error()
	if strings.Contains(msg, "missing required field") {
		return &ParseError{Object: r.name, Err: fmt.Errorf("%w: the footer omits a field parquet-go v0.32 requires (%v)", ErrUnsupported, err),
			Hint: "the file may be valid under a newer Parquet format version; rewrite it with a current writer (e.g. pyarrow)"}
	}
	return pqCorrupt(r.name, -1, 0, "", fmt.Errorf("footer: %v", err))
}

func pqDecodeFooter(proto *thrift.CompactProtocol, footer []byte, md *format.FileMetaData) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic decoding the footer: %v", p)
		}
	}()
	return thrift.NewDecoder(proto.NewReaderFromBytes(footer)).Decode(md)
}

func pqIsEncrypted(md *format.FileMetaData) bool {
	if md.EncryptionAlgorithm.Value != nil || len(md.FooterSigningKeyMetadata) > 0 {
		return true
	}
	for i := range md.RowGroups {
		for j := range md.RowGroups[i].Columns {
			c := &md.RowGroups[i].Columns[j]
			if c.CryptoMetadata.Value != nil || len(c.EncryptedColumnMetadata) > 0 {
				return true
			}
		}
	}
	return false
}

// checkMetadata validates what parquet-go trusts in the footer: row counts,
// codecs, and that column chunks lie inside the file.
func (r *pqReader) checkMetadata() error {
	md := r.md
	if pqIsEncrypted(md) {
		return r.encrypted("encrypted columns")
	}
	if md.NumRows < 0 {
		return pqCorrupt(r.name, -1, 0, "", fmt.Errorf("negative row count %d", md.NumRows))
	}
	var total int64
	dataEnd := r.src.size - 8
	for i := range md.RowGroups {
		g := &md.RowGroups[i]
		if g.NumRows < 0 {
			return pqCorrupt(r.name, i, total, "", fmt.Errorf("row group has a negative row count %d", g.NumRows))
		}
		total += g.NumRows
		if total < 0 {
			return pqCorrupt(r.name, i, 0, "", errors.New("row counts overflow"))
		}
		for j := range g.Columns {
			cc := &g.Columns[j]
			path := strings.Join(cc.MetaData.PathInSchema, ".")
			if cc.FilePath != "" {
				return &ParseError{Object: r.name, RowGroup: i, Row: total - g.NumRows, Column: path,
					Err: fmt.Errorf("%w: the column chunk is in another file (%q)", ErrUnsupported, cc.FilePath)}
			}
			codec := cc.MetaData.Codec
			switch codec {
			case format.Uncompressed, format.Snappy, format.Gzip, format.Brotli, format.Zstd, format.Lz4Raw:
			default:
				return &ParseError{Object: r.name, RowGroup: i, Row: total - g.NumRows, Column: path,
					Err:  fmt.Errorf("%w: %s compression (parquet-go v0.32 reads none, snappy, gzip, brotli, zstd and lz4_raw)", ErrUnsupported, pqCodecName(codec)),
					Hint: "rewrite the file with snappy or zstd compression"}
			}
			if i > 0 && j < len(md.RowGroups[0].Columns) && md.RowGroups[0].Columns[j].MetaData.Codec != codec {
				// parquet-go decodes every chunk of a column with the codec of
				// its first chunk.
				return &ParseError{Object: r.name, RowGroup: i, Row: total - g.NumRows, Column: path,
					Err:  fmt.Errorf("%w: the column's compression changes between row groups (%s, then %s)", ErrUnsupported, pqCodecName(md.RowGroups[0].Columns[j].MetaData.Codec), pqCodecName(codec)),
					Hint: "rewrite the file with one codec"}
			}
			start, end := pqChunkRange(cc)
			if start < 0 || end < start || end > dataEnd {
				return pqCorrupt(r.name, i, total-g.NumRows, path, fmt.Errorf("the column chunk [%d, %d) lies outside the file's data [4, %d)", start, end, dataEnd))
			}
		}
	}
	r.rows = total
	if total != md.NumRows {
		// The row groups are what is read; some writers got the total wrong.
		r.warnings = append(r.warnings, fmt.Sprintf("%s: the footer says %d rows but its row groups hold %d; reading the row groups", r.name, md.NumRows, total))
	}
	return nil
}

func pqChunkRange(cc *format.ColumnChunk) (start, end int64) {
	start = cc.MetaData.DataPageOffset
	if d := cc.MetaData.DictionaryPageOffset; d > 0 && d < start {
		start = d
	}
	return start, start + cc.MetaData.TotalCompressedSize
}

func pqCodecName(c format.CompressionCodec) string {
	switch c {
	case format.Uncompressed:
		return "uncompressed"
	case format.Snappy:
		return "snappy"
	case format.Gzip:
		return "gzip"
	case format.LZO:
		return "lzo"
	case format.Brotli:
		return "brotli"
	case format.Lz4:
		return "lz4 (Hadoop framing, deprecated)"
	case format.Zstd:
		return "zstd"
	case format.Lz4Raw:
		return "lz4_raw"
	}
	return fmt.Sprintf("codec %d", c)
}

func (r *pqReader) schemaError(err error) error {
	pe := &ParseError{Object: r.name, Err: err}
	var ce *pqColumnError
	if errors.As(err, &ce) {
		pe.Column, pe.Err = ce.column, ce.err
	}
	switch {
	case errors.Is(pe.Err, ErrUnsupported):
		pe.Hint = "s3ingest cannot read this column; rewrite the file without it"
	case !errors.Is(pe.Err, ErrCorrupt):
		pe.Err = fmt.Errorf("%w: %v", ErrCorrupt, pe.Err)
	}
	return pe
}

// bindSchema sets the output schema: the file's columns, or Options.Schema
// (used as is) matched by name. A column of the given schema may have the
// file column's type or string (the values' text; JSON text for nested
// fields); a column the file lacks is null. A null in a column the given
// schema says is not nullable is a row-level ErrType error, as in the text
// formats.
func (r *pqReader) bindSchema() error {
	want := r.opts.Schema
	if want == nil {
		fields := make([]schema.Field, len(r.cols))
		r.srcCol = make([]int, len(r.cols))
		r.asText = make([]bool, len(r.cols))
		for i := range r.cols {
			fields[i] = r.cols[i].field
			r.srcCol[i] = i
		}
		r.out = &schema.Schema{Fields: fields}
		return nil
	}
	byName := make(map[string]int, len(r.cols))
	for i := range r.cols {
		byName[r.cols[i].field.Name] = i
	}
	r.srcCol = make([]int, len(want.Fields))
	r.asText = make([]bool, len(want.Fields))
	r.checkNull = make([]bool, len(want.Fields))
	for i, f := range want.Fields {
		j, ok := byName[f.Name]
		if !ok {
			r.srcCol[i] = -1
			r.checkNull[i] = !f.Nullable
			continue
		}
		c := &r.cols[j]
		r.srcCol[i] = j
		have := c.field.Type
		switch {
		case f.Type == have:
		case f.Type == schema.String && c.flat:
			r.asText[i] = true
		case f.Type == schema.String && have == schema.JSON:
		default:
			return &ParseError{Object: r.name, Column: f.Name,
				Err:  fmt.Errorf("%w: column %q is %s in the file (%s) and cannot be read as %s", ErrUnsupported, f.Name, have, pqDescribeType(c), f.Type),
				Hint: fmt.Sprintf("give the column type %s or string in the schema", have)}
		}
		r.checkNull[i] = c.field.Nullable && !f.Nullable
	}
	r.out = want
	return nil
}

// Schema implements Reader.
func (r *pqReader) Schema() *schema.Schema { return r.out }

// Info implements Reader.
func (r *pqReader) Info() Info { return r.info }

// Close implements Reader. It releases the page readers; it does not close
// the Object (which has nothing to close).
func (r *pqReader) Close() (err error) {
	if r.closed {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = r.panicked(p)
		}
	}()
	r.closed = true
	if r.src == nil {
		return nil
	}
	for i := range r.chunks {
		r.chunks[i].close()
	}
	r.src.cacheRange(0, 0)
	return nil
}

// Next implements Reader.
func (r *pqReader) Next(ctx context.Context, b *schema.Batch) (err error) {
	b.Reset()
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case r.closed:
		return fmt.Errorf("parsers: Next on a closed Parquet reader of %s", r.name)
	case r.err != nil:
		return r.err
	case r.eof:
		return io.EOF
	case len(b.Cols) != len(r.out.Fields):
		return fmt.Errorf("parsers: batch has %d columns, schema has %d: use schema.NewBatch(reader.Schema(), n)", len(b.Cols), len(r.out.Fields))
	}
	r.src.setContext(ctx)
	defer func() {
		if p := recover(); p != nil {
			b.Reset()
			r.err = r.panicked(p)
			err = r.err
		}
	}()
	for b.Len() < r.opts.BatchRows && pqBatchBytes(b) < pqMaxBatchBytes {
		if r.rgLeft == 0 {
			if err := r.nextRowGroup(); err != nil {
				if err == io.EOF {
					r.eof = true
					break
				}
				return r.fail(b, b.Len(), err)
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			if b.Len() > 0 {
				return nil // the rows so far; the next call returns ctx.Err()
			}
			return err
		}
		n := int(min(int64(min(pqSubBatch, r.opts.BatchRows-b.Len())), r.rgLeft))
		start := b.Len()
		if err := r.fill(b, n); err != nil {
			return r.fail(b, start, err)
		}
		for i := range n {
			b.Lines = append(b.Lines, r.row+int64(i))
		}
		r.row += int64(n)
		r.rgLeft -= int64(n)
		if len(r.rowErrs) > 0 {
			if stop, err := r.rejectRows(b, start); stop {
				return err
			}
		}
	}
	if b.Len() == 0 && r.eof {
		return io.EOF
	}
	return nil
}

// fail records a fatal error met while filling rows from start on: the
// rows before start are handed over first, the error comes with the next
// call.
func (r *pqReader) fail(b *schema.Batch, start int, err error) error {
	b.Truncate(start)
	r.err = err // the reader is unusable after a failed read
	if start > 0 {
		return nil
	}
	return err
}

func pqBatchBytes(b *schema.Batch) int {
	n := 0
	for i := range b.Cols {
		n += len(b.Cols[i].Bytes)
	}
	return n
}

// nextRowGroup closes the current row group and opens the next one with
// rows; io.EOF after the last.
func (r *pqReader) nextRowGroup() error {
	for i := range r.chunks {
		c := &r.chunks[i]
		if c.pages != nil {
			r.curCol = c.leaf.path
			if err := c.drain(); err != nil {
				return r.classify(c, err, r.rg, r.row, c.leaf.path)
			}
			c.close()
		}
	}
	r.curCol = ""
	groups := r.file.RowGroups()
	for {
		r.rg++
		if r.rg >= len(groups) {
			r.src.cacheRange(0, 0)
			return io.EOF
		}
		g := &r.md.RowGroups[r.rg]
		if g.NumRows == 0 {
			continue
		}
		// Fetch a small row group with one request.
		start, end := int64(-1), int64(0)
		for j := range g.Columns {
			s, e := pqChunkRange(&g.Columns[j])
			if start < 0 || s < start {
				start = s
			}
			end = max(end, e)
		}
		if start >= 0 && end-start <= r.prefetchMax {
			if err := r.src.cacheRange(start, end-start); err != nil {
				return r.classify(nil, err, r.rg, r.row, "")
			}
		} else {
			r.src.cacheRange(0, 0)
		}
		chunks := groups[r.rg].ColumnChunks()
		if len(chunks) != len(r.leaves) {
			return pqCorrupt(r.name, r.rg, r.row, "", fmt.Errorf("the row group has %d column chunks for %d columns", len(chunks), len(r.leaves)))
		}
		for i, l := range r.leaves {
			if !r.need[i] {
				continue
			}
			fc, ok := chunks[i].(*parquet.FileColumnChunk)
			if !ok {
				return pqCorrupt(r.name, r.rg, r.row, l.path, fmt.Errorf("unexpected column chunk type %T", chunks[i]))
			}
			guard := newPQGuard(r.src, l, &g.Columns[i])
			r.chunks[i].open(l, fc.PagesFrom(guard))
			r.chunks[i].guard = guard
		}
		r.rgLeft = g.NumRows
		return nil
	}
}

// fill appends n rows of every column to b.
func (r *pqReader) fill(b *schema.Batch, n int) error {
	r.rowErrs = r.rowErrs[:0]
	base := b.Len()
	for i := range b.Cols {
		v := &b.Cols[i]
		j := r.srcCol[i]
		if j < 0 {
			pqAppendNulls(v, n)
			if r.checkNull[i] {
				for k := base; k < v.Len(); k++ {
					r.rowErrs = append(r.rowErrs, pqRowErr{row: k, col: i, msg: "null in a column that is not nullable",
						hint: fmt.Sprintf("the file has no column %q: mark it nullable in the schema", r.out.Fields[i].Name)})
				}
			}
			continue
		}
		col := &r.cols[j]
		node := col.node
		r.curCol = col.field.Name
		if col.flat {
			c := &r.chunks[node.first]
			if err := c.fillFlat(v, n, i, r.asText[i], &r.rowErrs); err != nil {
				return r.classify(c, err, r.rg, r.row+int64(v.Len()-base), col.field.Name)
			}
		} else {
			lv := r.levels[j]
			for k := range lv {
				c := &r.chunks[node.first+k]
				if err := c.gather(&lv[k], n, i, base, &r.rowErrs); err != nil {
					return r.classify(c, err, r.rg, r.row+int64(max(len(lv[k].rows)-1, 0)), col.field.Name)
				}
			}
			r.asm.lv, r.asm.base = lv, node.first
			for k := range n {
				if err := r.asm.row(v, node, k); err != nil {
					return r.classify(nil, err, r.rg, r.row+int64(k), col.field.Name)
				}
			}
		}
		if r.checkNull != nil && r.checkNull[i] {
			for k := base; k < v.Len(); k++ {
				if v.Nulls[k] {
					r.rowErrs = append(r.rowErrs, pqRowErr{row: k, col: i, msg: "null in a column that is not nullable",
						hint: "mark the column nullable in the schema"})
				}
			}
		}
		if len(v.Bytes) > 1<<31-1 {
			return &ParseError{Object: r.name, RowGroup: r.rg, Row: r.row, Column: col.field.Name,
				Err: fmt.Errorf("%w: more than 2 GiB of values in one batch", ErrTooLarge), Hint: "lower batch_rows"}
		}
	}
	r.curCol = ""
	return nil
}

// rejectRows handles the rows of b from start on whose values did not
// convert. It reports whether Next must return now (with err).
func (r *pqReader) rejectRows(b *schema.Batch, start int) (bool, error) {
	errs := r.rowErrs
	slices.SortStableFunc(errs, func(x, y pqRowErr) int { return x.row - y.row })
	keep := r.keep[:0]
	for range b.Len() {
		keep = append(keep, true)
	}
	r.keep = keep
	for k, e := range errs {
		if k > 0 && errs[k-1].row == e.row {
			continue // one error per row: the first column's
		}
		pe := &ParseError{Object: r.name, RowGroup: r.rg, Row: b.Lines[e.row], Column: r.out.Fields[e.col].Name,
			Value: pqShorten(e.value), Err: fmt.Errorf("%w: %s", ErrType, e.msg), Hint: e.hint}
		if pe.Hint == "" {
			pe.Hint = "pass a schema with this column as string, or fix the value"
		}
		var err error = pe
		if r.opts.OnReject != nil {
			err = r.opts.OnReject(pe)
		}
		if err != nil {
			// Hand over the good rows before the bad one; the error comes
			// next, and the reader stops there.
			r.compact(b, keep[:e.row])
			r.err = err
			if b.Len() > 0 {
				return true, nil
			}
			return true, err
		}
		keep[e.row] = false
	}
	r.compact(b, keep)
	r.rowErrs = r.rowErrs[:0]
	return false, nil
}

// compact keeps the rows of b marked in keep (and drops the rows after
// len(keep)).
func (r *pqReader) compact(b *schema.Batch, keep []bool) {
	n := len(keep)
	all := true
	for _, k := range keep {
		if !k {
			all = false
			break
		}
	}
	if all {
		b.Truncate(n)
		return
	}
	for i := range b.Cols {
		pqCompactVector(&b.Cols[i], keep)
	}
	w := 0
	for i, k := range keep {
		if k {
			b.Lines[w] = b.Lines[i]
			w++
		}
	}
	b.Lines = b.Lines[:w]
}

// pqCompactVector keeps the rows marked in keep, in place.
func pqCompactVector(v *schema.Vector, keep []bool) {
	w := 0
	var bw int32
	for i, k := range keep {
		if !k {
			continue
		}
		v.Nulls[w] = v.Nulls[i]
		switch v.Type {
		case schema.Bool:
			v.Bools[w] = v.Bools[i]
		case schema.Int64, schema.Date, schema.Timestamp:
			v.Ints[w] = v.Ints[i]
		case schema.Float64:
			v.Floats[w] = v.Floats[i]
		default:
			s, e := v.Offsets[i], v.Offsets[i+1]
			copy(v.Bytes[bw:], v.Bytes[s:e])
			v.Offsets[w] = bw
			bw += e - s
		}
		w++
	}
	v.Nulls = v.Nulls[:w]
	switch v.Type {
	case schema.Bool:
		v.Bools = v.Bools[:w]
	case schema.Int64, schema.Date, schema.Timestamp:
		v.Ints = v.Ints[:w]
	case schema.Float64:
		v.Floats = v.Floats[:w]
	default:
		if len(v.Offsets) > 0 {
			v.Offsets[w] = bw
			v.Offsets = v.Offsets[:w+1]
			v.Bytes = v.Bytes[:bw]
		}
	}
}

func pqShorten(s string) string {
	if len(s) <= 64 {
		return s
	}
	cut := 61
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// classify turns an error met while reading into what Next returns: the
// object's own error if it failed, else a ParseError.
func (r *pqReader) classify(c *pqChunk, err error, rg int, row int64, col string) error {
	if ioErr := r.src.err(); ioErr != nil {
		return ioErr
	}
	if c != nil && c.guard != nil && c.guard.err != nil && errors.Is(err, c.guard.err) {
		pe := &ParseError{Object: r.name, RowGroup: rg, Row: row, Column: col, Err: c.guard.err}
		if errors.Is(c.guard.err, ErrTooLarge) {
			pe.Hint = "s3ingest reads pages of up to 256 MiB; rewrite the file with smaller pages"
		}
		return pe
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe
	}
	switch {
	case errors.Is(err, ErrUnsupported):
		return &ParseError{Object: r.name, RowGroup: rg, Row: row, Column: col, Err: err}
	case errors.Is(err, encoding.ErrNotSupported):
		return &ParseError{Object: r.name, RowGroup: rg, Row: row, Column: col,
			Err: fmt.Errorf("%w: %v", ErrUnsupported, err), Hint: "parquet-go v0.32 cannot decode this encoding; rewrite the file with a common encoding"}
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrCorrupt):
		return &ParseError{Object: r.name, RowGroup: rg, Row: row, Column: col, Err: err}
	}
	return pqCorrupt(r.name, rg, row, col, err)
}

// pqCorrupt is a ParseError wrapping ErrCorrupt.
// errNotParquet marks an object without the Parquet head magic, so a
// misnamed ".parquet" object can be sniffed as a stream instead.
var errNotParquet = errors.New("not a Parquet file")

func pqCorrupt(name string, rg int, row int64, col string, err error) *ParseError {
	if rg < 0 {
		rg = 0
	}
	return &ParseError{Object: name, RowGroup: rg, Row: row, Column: col, Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}
}

// panicked turns a recovered panic of parquet-go (malformed input) into an
// error.
func (r *pqReader) panicked(p any) error {
	if ioErr := r.src.err(); ioErr != nil {
		return ioErr
	}
	rg := max(r.rg, 0)
	err := pqCorrupt(r.name, rg, r.row, r.curCol, fmt.Errorf("the Parquet decoder failed: %v", p))
	if pqDebugPanics {
		err.Hint = string(debug.Stack())
	}
	return err
}

// pqDebugPanics adds the stack of a recovered panic to the error's hint
// (tests set it).
var pqDebugPanics = false
