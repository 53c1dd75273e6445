// Package parquet is s3ingest's Parquet engine: it reads a Parquet file
// through an io.ReaderAt of known size into typed batches (package schema).
//
// The file is read through the io.ReaderAt, never whole: the footer first,
// then one row group at a time, each column through parquet-go's page
// reader behind a parquetguard.Guard. Memory is bounded by two read-ahead
// windows (readahead.go) plus one read buffer and one decoded page per
// column, whatever the size of the file; the columns are decoded in
// parallel without more buffers (parallel.go). Against S3, every ReadAt that is not
// served from the engine's caches is one ranged request, so the engine
// issues few, large, bounded reads (see source.go).
//
// Errors: content problems (bad magic, a footer or page that does not
// decode, a decompression failure, levels or values that do not add up) are
// *Error wrapping shared.ErrCorrupt, with the row group, the first row not
// delivered and the column; encrypted files, unknown codecs and encodings
// are *Error wrapping shared.ErrUnsupported, with a message starting
// "unsupported: "; a value that does not convert (see schema.go) is a
// row-level *Error wrapping shared.ErrType, handed to Config.OnReject.
// Errors of the io.ReaderAt itself (network, cancellation) are returned as
// they are, never as an *Error. parquet-go panics on some malformed input:
// every entry point recovers and reports a panic as shared.ErrCorrupt.
//
// Package parsers adapts its Objects to this engine and its *Error to
// *parsers.ParseError.
package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime/debug"
	"slices"
	"strings"

	parquetgo "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/s3ingest/s3ingest/parsers/internal/parquetguard"
	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

const (
	// subBatch is how many rows are converted per column at a time, per
	// worker (see parallel.go): the context and the batch's bytes are
	// checked between sub-batches.
	subBatch = 2048
	// readBudget is shared by the per-column read buffers: each column
	// reads through a buffer of readBudget/columns bytes, between
	// minReadBuffer and maxReadBuffer. Each buffer refill is one
	// ranged request. The floor is low so that a wide file stays within
	// the budget (up to 1,024 columns; 32 KiB per column beyond).
	readBudget    = 32 << 20
	minReadBuffer = 32 << 10
	maxReadBuffer = 4 << 20
	// ReadAheadWindow: a row group no larger than this is fetched with
	// one request before its columns are read, together with the row
	// groups after it that fit; the next window is fetched while one is
	// read (see readahead.go), so the reader holds up to two.
	ReadAheadWindow = 4 << 20
	// PreviewReadBuffer is the per-column read buffer of a preview, which
	// needs the first pages only.
	PreviewReadBuffer = 256 << 10
	// PreviewReadAhead is the read-ahead window of a preview.
	PreviewReadAhead = 1 << 20
)

// ErrNotParquet marks a file without the Parquet head magic (wrapped in an
// *Error wrapping shared.ErrCorrupt), so a misnamed ".parquet" object can
// be sniffed as another format instead.
var ErrNotParquet = errors.New("not a Parquet file")

// Error is a problem with the content of the file. It says where (row
// group, row, column) and what (the value, the cause, a hint).
type Error struct {
	// RowGroup and Row locate the problem: Row is the 0-based index in the
	// file of the first row not delivered (or of the rejected row).
	RowGroup int
	Row      int64
	Column   string // "" when the error is not about one column
	Value    string // the raw value, shortened (row-level errors)
	Err      error  // the cause; wraps a sentinel of package shared
	// Hint says what to fix, e.g. "rewrite the file with snappy or zstd
	// compression".
	Hint string
}

// Error formats the position, the value, the cause and the hint.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Row > 0 || e.RowGroup > 0 {
		fmt.Fprintf(&b, "row group %d, row %d: ", e.RowGroup, e.Row)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, "column %q: ", e.Column)
	}
	if e.Value != "" {
		fmt.Fprintf(&b, "value %q: ", e.Value)
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, " (%s)", e.Hint)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Config configures a Reader.
type Config struct {
	// Schema, when set, is the output schema: columns are matched by name
	// (see bindSchema); nil reads the file's own columns.
	Schema *schema.Schema
	// BatchRows is the most rows Next puts in a batch (<= 0: 8192).
	BatchRows int
	// OnReject is called for each row whose values do not convert. If it
	// returns nil the row is skipped; an error it returns is returned by
	// Next, as is. A nil OnReject makes the first such row's *Error fail
	// the read.
	OnReject func(*Error) error
	// Preview reads smaller windows: the first pages only are needed.
	Preview bool
	// MaxColumns bounds the leaf columns the footer may declare (<= 0: no
	// bound). It is checked on the footer's bytes, before parquet-go
	// decodes them.
	MaxColumns int
	// Workers is the most goroutines that read the columns of a batch at
	// once (see parallel.go); <= 0: GOMAXPROCS; 1: on the calling
	// goroutine only.
	Workers int
	// RescueColumn, when set, names a nullable JSON column of Schema (the
	// caller checks that) that receives, per row, one JSON object of what
	// Schema cannot hold (see rescue.go): the values of file columns
	// Schema lacks or types differently, and values that do not convert.
	RescueColumn string
	// Batches is how many batches of this reader are alive at once (<= 1:
	// one; a caller that fills the next batch while the current one is
	// used has two). Each batch gets 1/Batches of the batch budgets
	// (schema.BatchFixedBytes of fixed-width values, shared.MaxBatchBytes
	// of text), so that the reader's memory is the same whatever Batches.
	Batches int
}

// Reader reads the rows of one Parquet file in batches. It is not safe for
// concurrent use.
type Reader struct {
	cfg    Config
	src    *source
	file   *parquetgo.File
	md     *format.FileMetaData
	leaves []*leaf
	cols   []column
	out    *schema.Schema
	// per output column: the file column it reads (-1: none, all null) and
	// whether values are rendered as text (a string target of
	// Config.Schema).
	srcCol    []int
	asText    []bool
	checkNull []bool // per output column: nulls are row errors
	need      []bool // per leaf: read by some output column
	resc      rescue // Config.RescueColumn

	prefetchMax int64
	rows        int64 // rows in the row groups

	rg      int   // current row group, -1 before the first
	rgLeft  int64 // rows left in the current row group
	row     int64 // file row index of the next row
	chunks  []chunk
	levels  [][]levelBuf // per output column (nested): per leaf
	asm     assembler
	rowErrs []rowErr
	keep    []bool
	// fill's scratch: per output column, the rows that do not convert and
	// the error; the columns read in parallel
	colErrs    [][]rowErr
	colFail    []error
	par        []int  // most expensive first
	isPar      []bool // per output column
	workers    int    // Config.Workers, resolved
	unit       int    // rows per fill at most (see unitRows)
	textPerRow int    // text bytes per row of the last fill
	textCap    int    // a batch's text budget (see Config.Batches)
	eof        bool
	err        error // sticky
	closed     bool
	curCol     string // column being read, for panics
	warnings   []string
}

// Open reads the footer of the Parquet file of size bytes that ra holds
// and returns a Reader of its rows. The footer is read with one ReadAt of
// the last TailBytes (two for a larger footer), plus one for the 4-byte
// head magic; no data page is read before Next. ra must be safe for
// concurrent use (the head and tail are read in parallel). Errors of ra
// are returned as they are; content errors are *Error.
func Open(ctx context.Context, ra io.ReaderAt, size int64, cfg Config) (_ *Reader, err error) {
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 8192
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if size < 12 {
		return nil, corrupt(0, 0, "", fmt.Errorf("%d bytes is too small for a Parquet file", max(size, 0)))
	}
	src := newSource(ra, size)
	r := &Reader{cfg: cfg, src: src, rg: -1, resc: rescue{col: -1}}
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
	nleaves, err := parquetguard.FooterColumns(footer)
	if err != nil {
		nleaves = 16 // parquet-go's decoding will say what is wrong
	}
	readBuf := min(PreviewReadBuffer, readBufferSize(nleaves))
	r.prefetchMax = PreviewReadAhead
	if !cfg.Preview {
		readBuf = readBufferSize(nleaves)
		r.prefetchMax = ReadAheadWindow
	}
	f, err := parquetgo.OpenFile(src, size,
		parquetgo.SkipPageIndex(true),
		parquetgo.SkipBloomFilters(true),
		parquetgo.ReadBufferSize(readBuf),
		// The footer is already cached by prefetch: an optimistic read
		// would fetch ReadBufferSize bytes of the tail again.
		parquetgo.OptimisticRead(false),
	)
	if err != nil {
		return nil, r.openError(err, footer)
	}
	r.file = f
	r.md = f.Metadata()
	if err := r.checkMetadata(); err != nil {
		return nil, err
	}
	root, leaves, err := parseSchema(r.md.Schema)
	if err != nil {
		return nil, r.schemaError(err)
	}
	if len(leaves) == 0 {
		return nil, corrupt(0, 0, "", errors.New("the schema has no columns"))
	}
	r.leaves = leaves
	r.cols = columnsOf(root)
	if err := r.bindSchema(); err != nil {
		return nil, err
	}
	// a wide schema gets small batches (see schema.BatchFixedBytes); the
	// rescue's scratch columns count too
	width := r.out
	if sb := r.resc.scratch; sb != nil && len(sb.Schema.Fields) > 0 {
		width = &schema.Schema{Fields: append(slices.Clone(r.out.Fields), sb.Schema.Fields...)}
	}
	r.cfg.BatchRows = schema.BatchRows(width, r.cfg.BatchRows)
	r.textCap = shared.MaxBatchBytes
	if k := r.cfg.Batches; k > 1 {
		r.cfg.BatchRows = max(1, min(r.cfg.BatchRows, schema.BatchFixedBytes/k/schema.RowBytes(width)))
		r.textCap = shared.MaxBatchBytes / k
	}
	r.need = make([]bool, len(leaves))
	for _, j := range append(slices.Clone(r.srcCol), r.resc.extra...) {
		if j >= 0 {
			n := r.cols[j].node
			for k := n.first; k < n.first+n.nleaves; k++ {
				r.need[k] = true
			}
		}
	}
	r.workers = resolveWorkers(cfg.Workers)
	r.unit = subBatch
	if r.workers > 1 {
		r.unit = parallelUnit
	}
	r.chunks = make([]chunk, len(leaves))
	r.levels = make([][]levelBuf, len(r.cols))
	for i, c := range r.cols {
		if !c.flat {
			r.levels[i] = make([]levelBuf, c.node.nleaves)
		}
	}
	return r, nil
}

// RowCount is the number of rows of the file's row groups.
func (r *Reader) RowCount() int64 { return r.rows }

// Warnings are things the user should know that did not stop the read
// (e.g. a footer whose row count disagrees with its row groups').
func (r *Reader) Warnings() []string { return r.warnings }

// readBufferSize sizes the per-column read buffer (a power of two).
func readBufferSize(columns int) int {
	b := readBudget / max(columns, 1)
	b = max(minReadBuffer, min(maxReadBuffer, b))
	return 1 << (bits.Len(uint(b)) - 1)
}

// footer checks the magic bytes and caches the footer; it returns the
// footer's bytes.
func (r *Reader) footer(size int64) ([]byte, error) {
	src := r.src
	head := string(src.head)
	tail := src.tail
	magic := string(tail[len(tail)-4:])
	switch {
	case head == "PARE" || magic == "PARE":
		return nil, r.encrypted("the footer is encrypted (magic PARE)")
	case head != "PAR1":
		return nil, corrupt(-1, 0, "", fmt.Errorf("%w: it starts with %q, not \"PAR1\"", ErrNotParquet, head))
	case magic != "PAR1":
		return nil, corrupt(-1, 0, "", fmt.Errorf("the file does not end with \"PAR1\" (%q): truncated or not Parquet", magic))
	}
	n := int64(tail[len(tail)-8]) | int64(tail[len(tail)-7])<<8 | int64(tail[len(tail)-6])<<16 | int64(tail[len(tail)-5])<<24
	if n <= 0 || n > size-12 {
		return nil, corrupt(-1, 0, "", fmt.Errorf("footer length %d does not fit a file of %d bytes", n, size))
	}
	if n > maxFooterBytes {
		return nil, &Error{Err: fmt.Errorf("%w: the footer is %d bytes (limit %d)", shared.ErrTooLarge, n, maxFooterBytes)}
	}
	start := size - 8 - n
	if err := src.extendTail(start); err != nil {
		return nil, err
	}
	footer := src.tail[start-src.tailOff : size-src.tailOff-8]
	if max := r.cfg.MaxColumns; max > 0 {
		n, err := parquetguard.FooterColumns(footer)
		if err != nil {
			return nil, &Error{Err: err}
		}
		if n > max {
			return nil, &Error{Err: fmt.Errorf("%w: the file has %d columns, more than max_columns (%d)", shared.ErrTooLarge, n, max),
				Hint: "read the file with a higher max_columns, or rewrite it with fewer columns"}
		}
	}
	if err := parquetguard.CheckFooter(footer); err != nil {
		e := &Error{Err: err}
		if errors.Is(err, shared.ErrTooLarge) {
			e.Hint = "the file's metadata is too large: rewrite it with fewer, larger row groups"
		}
		return nil, e
	}
	return footer, nil
}

func (r *Reader) encrypted(what string) error {
	return &Error{Err: fmt.Errorf("%w: encrypted Parquet file (%s)", shared.ErrUnsupported, what),
		Hint: "s3ingest cannot decrypt Parquet modular encryption; write the file without encryption"}
}

// openError classifies an error of parquetgo.OpenFile.
func (r *Reader) openError(err error, footer []byte) error {
	if ioErr := r.src.err(); ioErr != nil {
		return ioErr
	}
	// A plaintext footer of an encrypted file (its signature makes
	// parquet-go fail) or encrypted columns.
	var md format.FileMetaData
	var proto thrift.CompactProtocol
	if derr := decodeFooter(&proto, footer, &md); derr == nil && isEncrypted(&md) {
		return r.encrypted("encrypted columns with a plaintext footer")
	}
	msg := err.Error()
	if strings.Contains(msg, "missing required field") {
		return &Error{Err: fmt.Errorf("%w: the footer omits a field parquet-go v0.32 requires (%v)", shared.ErrUnsupported, err),
			Hint: "the file may be valid under a newer Parquet format version; rewrite it with a current writer (e.g. pyarrow)"}
	}
	return corrupt(-1, 0, "", fmt.Errorf("footer: %v", err))
}

func decodeFooter(proto *thrift.CompactProtocol, footer []byte, md *format.FileMetaData) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic decoding the footer: %v", p)
		}
	}()
	return thrift.NewDecoder(proto.NewReaderFromBytes(footer)).Decode(md)
}

func isEncrypted(md *format.FileMetaData) bool {
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
func (r *Reader) checkMetadata() error {
	md := r.md
	if isEncrypted(md) {
		return r.encrypted("encrypted columns")
	}
	if md.NumRows < 0 {
		return corrupt(-1, 0, "", fmt.Errorf("negative row count %d", md.NumRows))
	}
	var total int64
	dataEnd := r.src.size - 8
	for i := range md.RowGroups {
		g := &md.RowGroups[i]
		if g.NumRows < 0 {
			return corrupt(i, total, "", fmt.Errorf("row group has a negative row count %d", g.NumRows))
		}
		total += g.NumRows
		if total < 0 {
			return corrupt(i, 0, "", errors.New("row counts overflow"))
		}
		for j := range g.Columns {
			cc := &g.Columns[j]
			path := strings.Join(cc.MetaData.PathInSchema, ".")
			if cc.FilePath != "" {
				return &Error{RowGroup: i, Row: total - g.NumRows, Column: path,
					Err: fmt.Errorf("%w: the column chunk is in another file (%q)", shared.ErrUnsupported, cc.FilePath)}
			}
			codec := cc.MetaData.Codec
			switch codec {
			case format.Uncompressed, format.Snappy, format.Gzip, format.Brotli, format.Zstd, format.Lz4Raw:
			default:
				return &Error{RowGroup: i, Row: total - g.NumRows, Column: path,
					Err:  fmt.Errorf("%w: %s compression (parquet-go v0.32 reads none, snappy, gzip, brotli, zstd and lz4_raw)", shared.ErrUnsupported, parquetguard.CodecName(codec)),
					Hint: "rewrite the file with snappy or zstd compression"}
			}
			if i > 0 && j < len(md.RowGroups[0].Columns) && md.RowGroups[0].Columns[j].MetaData.Codec != codec {
				// parquet-go decodes every chunk of a column with the codec of
				// its first chunk.
				return &Error{RowGroup: i, Row: total - g.NumRows, Column: path,
					Err:  fmt.Errorf("%w: the column's compression changes between row groups (%s, then %s)", shared.ErrUnsupported, parquetguard.CodecName(md.RowGroups[0].Columns[j].MetaData.Codec), parquetguard.CodecName(codec)),
					Hint: "rewrite the file with one codec"}
			}
			start, end := parquetguard.ChunkRange(cc)
			if start < 0 || end < start || end > dataEnd {
				return corrupt(i, total-g.NumRows, path, fmt.Errorf("the column chunk [%d, %d) lies outside the file's data [4, %d)", start, end, dataEnd))
			}
		}
	}
	r.rows = total
	if total != md.NumRows {
		// The row groups are what is read; some writers got the total wrong.
		r.warnings = append(r.warnings, fmt.Sprintf("the footer says %d rows but its row groups hold %d; reading the row groups", md.NumRows, total))
	}
	return nil
}

func (r *Reader) schemaError(err error) error {
	pe := &Error{Err: err}
	var ce *columnError
	if errors.As(err, &ce) {
		pe.Column, pe.Err = ce.column, ce.err
	}
	switch {
	case errors.Is(pe.Err, shared.ErrUnsupported):
		pe.Hint = "s3ingest cannot read this column; rewrite the file without it"
	case !errors.Is(pe.Err, shared.ErrCorrupt):
		pe.Err = fmt.Errorf("%w: %v", shared.ErrCorrupt, pe.Err)
	}
	return pe
}

// bindSchema sets the output schema: the file's columns, or Config.Schema
// (used as is) matched by name. A column of the given schema may have the
// file column's type or string (the values' text; JSON text for nested
// fields); a column the file lacks is null. A null in a column the given
// schema says is not nullable is a row-level shared.ErrType error, as in the text
// formats.
func (r *Reader) bindSchema() error {
	want := r.cfg.Schema
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
	rescuing := r.cfg.RescueColumn != ""
	r.resc.col = -1
	var bound []bool // per file column, in rescue mode: read by a schema column
	if rescuing {
		r.resc.col = want.Index(r.cfg.RescueColumn)
		r.resc.typed = make([]bool, len(want.Fields))
		r.resc.widen = make([]schema.Type, len(want.Fields))
		bound = make([]bool, len(r.cols))
	}
	r.srcCol = make([]int, len(want.Fields))
	r.asText = make([]bool, len(want.Fields))
	r.checkNull = make([]bool, len(want.Fields))
	for i, f := range want.Fields {
		j, ok := byName[f.Name]
		if i == r.resc.col {
			ok = false // a file column named like it is rescued
		}
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
		case rescuing && c.flat && widens(have, f.Type):
			// converted value by value (see widen); what does not fit
			// is rescued
			r.resc.widen[i] = have
		case rescuing:
			// the whole column is rescued; the schema column is null
			r.srcCol[i] = -1
			r.checkNull[i] = !f.Nullable
			r.resc.typed[i] = true
			continue
		default:
			return &Error{Column: f.Name,
				Err:  fmt.Errorf("%w: column %q is %s in the file (%s) and cannot be read as %s", shared.ErrUnsupported, f.Name, have, describeType(c), f.Type),
				Hint: fmt.Sprintf("give the column type %s or string in the schema", have)}
		}
		r.checkNull[i] = c.field.Nullable && !f.Nullable
		if rescuing {
			bound[j] = true
		}
	}
	r.out = want
	if rescuing {
		r.initRescue(bound)
	}
	return nil
}

// Schema is the schema of every batch Next fills.
func (r *Reader) Schema() *schema.Schema { return r.out }

// BatchRows is the most rows Next puts in a batch: Config.BatchRows, fewer
// for a wide schema or a share of the budgets (Config.Batches).
func (r *Reader) BatchRows() int { return r.cfg.BatchRows }

// Close releases the page readers and the caches; it does not close the
// io.ReaderAt.
func (r *Reader) Close() (err error) {
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
	r.src.stopAhead()
	r.src.cacheRange(0, 0)
	return nil
}

// Next resets b and fills it with up to BatchRows rows (fewer once their
// text passes the batch's text budget: shared.MaxBatchBytes, or its share,
// Config.Batches). It returns io.EOF (and an empty
// batch) after the last row. b must come from schema.NewBatch(r.Schema(),
// n). After an error other than a rejected row's, the Reader keeps
// returning that error; rows before the error are delivered first.
func (r *Reader) Next(ctx context.Context, b *schema.Batch) (err error) {
	b.Reset()
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case r.closed:
		return errors.New("parquet: Next on a closed reader")
	case r.err != nil:
		return r.err
	case r.eof:
		return io.EOF
	case len(b.Cols) != len(r.out.Fields):
		return fmt.Errorf("parquet: batch has %d columns, schema has %d: use schema.NewBatch(reader.Schema(), n)", len(b.Cols), len(r.out.Fields))
	}
	defer func() {
		if p := recover(); p != nil {
			b.Reset()
			r.err = r.panicked(p)
			err = r.err
		}
	}()
	for b.Len() < r.cfg.BatchRows && batchBytes(b) < r.textCap {
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
		n := int(min(int64(min(r.unitRows(b), r.cfg.BatchRows-b.Len())), r.rgLeft))
		start, text := b.Len(), batchBytes(b)
		if err := r.fill(b, n); err != nil {
			return r.fail(b, start, err)
		}
		r.textPerRow = (batchBytes(b) - text) / n
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
func (r *Reader) fail(b *schema.Batch, start int, err error) error {
	b.Truncate(start)
	r.err = err // the reader is unusable after a failed read
	if start > 0 {
		return nil
	}
	return err
}

func batchBytes(b *schema.Batch) int {
	n := 0
	for i := range b.Cols {
		n += len(b.Cols[i].Bytes)
	}
	return n
}

// nextRowGroup closes the current row group and opens the next one with
// rows; io.EOF after the last.
func (r *Reader) nextRowGroup() error {
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
			r.src.stopAhead()
			r.src.cacheRange(0, 0)
			return io.EOF
		}
		g := &r.md.RowGroups[r.rg]
		if g.NumRows == 0 {
			continue
		}
		// Fetch a small row group, and those after it, with one
		// request (see readahead.go).
		if err := r.fetchRowGroup(r.rg); err != nil {
			return r.classify(nil, err, r.rg, r.row, "")
		}
		chunks := groups[r.rg].ColumnChunks()
		if len(chunks) != len(r.leaves) {
			return corrupt(r.rg, r.row, "", fmt.Errorf("the row group has %d column chunks for %d columns", len(chunks), len(r.leaves)))
		}
		for i, l := range r.leaves {
			if !r.need[i] {
				continue
			}
			fc, ok := chunks[i].(*parquetgo.FileColumnChunk)
			if !ok {
				return corrupt(r.rg, r.row, l.path, fmt.Errorf("unexpected column chunk type %T", chunks[i]))
			}
			guard := parquetguard.New(r.src, l.guardColumn(), &g.Columns[i])
			r.chunks[i].open(l, fc.PagesFrom(guard))
			r.chunks[i].guard = guard
		}
		r.rgLeft = g.NumRows
		return nil
	}
}

// fill appends n rows of every column to b: the flat columns in parallel
// (see parallel.go), the others on the calling goroutine. Rows whose values
// do not convert are listed in r.rowErrs, column by column, as a
// sequential read lists them; the error returned is the one of the first
// column (in b's order) that failed.
func (r *Reader) fill(b *schema.Batch, n int) error {
	r.rowErrs = r.rowErrs[:0]
	base := b.Len()
	if len(r.colErrs) != len(b.Cols) {
		r.colErrs = make([][]rowErr, len(b.Cols))
		r.colFail = make([]error, len(b.Cols))
		r.parallelColumns()
	}
	for i := range b.Cols {
		r.colErrs[i], r.colFail[i] = r.colErrs[i][:0], nil
	}
	par := len(r.par) > 0 && n >= minParallelRows
	// the other columns, on this goroutine, in order, until one fails
	seq := func() {
		for i := range b.Cols {
			if i == r.resc.col || (par && r.isPar[i]) {
				continue // filled by fillRescue, after the others; or in parallel
			}
			if err := r.fillColumn(b, i, base, n, &r.colErrs[i]); err != nil {
				r.colFail[i] = err
				return
			}
		}
	}
	if par {
		r.fillParallel(b, base, n, r.par, seq)
	} else {
		seq()
	}
	r.curCol = ""
	for _, err := range r.colFail {
		if err != nil {
			return err // the first column's in b's order
		}
	}
	r.rowErrs = r.rowErrs[:0]
	for i := range r.colErrs {
		r.rowErrs = append(r.rowErrs, r.colErrs[i]...)
	}
	if r.resc.col >= 0 {
		return r.fillRescue(b, base, n)
	}
	return nil
}

// fillColumn appends n rows of output column i to b, listing the values
// that do not convert in errs.
func (r *Reader) fillColumn(b *schema.Batch, i, base, n int, errs *[]rowErr) error {
	v := &b.Cols[i]
	j := r.srcCol[i]
	if j < 0 {
		appendNulls(v, n)
		if r.checkNull[i] {
			hint := fmt.Sprintf("the file has no column %q: mark it nullable in the schema", r.out.Fields[i].Name)
			if r.resc.typed != nil && r.resc.typed[i] {
				hint = fmt.Sprintf("the file's column %q has another type (its values are rescued): mark it nullable in the schema", r.out.Fields[i].Name)
			}
			for k := base; k < v.Len(); k++ {
				*errs = append(*errs, rowErr{row: k, col: i, msg: "null in a column that is not nullable", hint: hint})
			}
		}
		return nil
	}
	if r.resc.widen != nil && r.resc.widen[i] != 0 {
		if err := r.widen(v, j, i, base, n, errs); err != nil {
			return err
		}
	} else if err := r.readColumn(v, j, i, base, n, r.asText[i], errs); err != nil {
		return err
	}
	return r.checkColumn(v, i, base, errs)
}

// checkColumn lists the nulls of output column i (rows from base on) that
// the schema does not allow, and bounds the column's bytes.
func (r *Reader) checkColumn(v *schema.Vector, i, base int, errs *[]rowErr) error {
	if r.checkNull != nil && r.checkNull[i] {
		for k := base; k < v.Len(); k++ {
			if v.Nulls[k] {
				*errs = append(*errs, rowErr{row: k, col: i, msg: "null in a column that is not nullable",
					hint: "mark the column nullable in the schema"})
			}
		}
	}
	if len(v.Bytes) > 1<<31-1 {
		return &Error{RowGroup: r.rg, Row: r.row, Column: r.cols[r.srcCol[i]].field.Name,
			Err: fmt.Errorf("%w: more than 2 GiB of values in one batch", shared.ErrTooLarge), Hint: "lower batch_rows"}
	}
	return nil
}

// readFlat appends the next n rows of flat file column j to v, as
// readColumn does. It touches no state of r but column j's chunk, so the
// flat columns can be read in parallel.
func (r *Reader) readFlat(v *schema.Vector, j, col, base, n int, text bool, errs *[]rowErr) error {
	c0 := &r.cols[j]
	c := &r.chunks[c0.node.first]
	if err := c.fillFlat(v, n, col, text, errs); err != nil {
		return r.classify(c, err, r.rg, r.row+int64(v.Len()-base), c0.field.Name)
	}
	return nil
}

// readColumn appends the next n rows of file column j to v (as text when
// text is set); values that do not convert are nulls reported in errs as
// output column col, rows from base on.
func (r *Reader) readColumn(v *schema.Vector, j, col, base, n int, text bool, errs *[]rowErr) error {
	c0 := &r.cols[j]
	node := c0.node
	r.curCol = c0.field.Name
	if c0.flat {
		return r.readFlat(v, j, col, base, n, text, errs)
	}
	lv := r.levels[j]
	for k := range lv {
		c := &r.chunks[node.first+k]
		if err := c.gather(&lv[k], n, col, base, errs); err != nil {
			return r.classify(c, err, r.rg, r.row+int64(max(len(lv[k].rows)-1, 0)), c0.field.Name)
		}
	}
	r.asm.lv, r.asm.base = lv, node.first
	for k := range n {
		if err := r.asm.row(v, node, k); err != nil {
			return r.classify(nil, err, r.rg, r.row+int64(k), c0.field.Name)
		}
	}
	return nil
}

// rejectRows handles the rows of b from start on whose values did not
// convert. It reports whether Next must return now (with err).
func (r *Reader) rejectRows(b *schema.Batch, start int) (bool, error) {
	errs := r.rowErrs
	slices.SortStableFunc(errs, func(x, y rowErr) int { return x.row - y.row })
	keep := r.keep[:0]
	for range b.Len() {
		keep = append(keep, true)
	}
	r.keep = keep
	for k, e := range errs {
		if k > 0 && errs[k-1].row == e.row {
			continue // one error per row: the first column's
		}
		name := e.name
		if e.col >= 0 {
			name = r.out.Fields[e.col].Name
		}
		pe := &Error{RowGroup: r.rg, Row: b.Lines[e.row], Column: name,
			Value: shared.Shorten(e.value), Err: fmt.Errorf("%w: %s", shared.ErrType, e.msg), Hint: e.hint}
		if pe.Hint == "" {
			pe.Hint = "pass a schema with this column as string, or fix the value"
		}
		var err error = pe
		if r.cfg.OnReject != nil {
			err = r.cfg.OnReject(pe)
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
func (r *Reader) compact(b *schema.Batch, keep []bool) {
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
		compactVector(&b.Cols[i], keep)
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

// compactVector keeps the rows marked in keep, in place.
func compactVector(v *schema.Vector, keep []bool) {
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

// classify turns an error met while reading into what Next returns: the
// io.ReaderAt's own error if it failed, else an *Error.
func (r *Reader) classify(c *chunk, err error, rg int, row int64, col string) error {
	if ioErr := r.src.err(); ioErr != nil {
		return ioErr
	}
	if c != nil && c.guard != nil && c.guard.Err() != nil && errors.Is(err, c.guard.Err()) {
		pe := &Error{RowGroup: rg, Row: row, Column: col, Err: c.guard.Err()}
		if errors.Is(c.guard.Err(), shared.ErrTooLarge) {
			pe.Hint = "s3ingest reads pages of up to 256 MiB; rewrite the file with smaller pages"
		}
		return pe
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	switch {
	case errors.Is(err, shared.ErrUnsupported):
		return &Error{RowGroup: rg, Row: row, Column: col, Err: err}
	case errors.Is(err, encoding.ErrNotSupported):
		return &Error{RowGroup: rg, Row: row, Column: col,
			Err: fmt.Errorf("%w: %v", shared.ErrUnsupported, err), Hint: "parquet-go v0.32 cannot decode this encoding; rewrite the file with a common encoding"}
	case errors.Is(err, shared.ErrTooLarge), errors.Is(err, shared.ErrCorrupt):
		return &Error{RowGroup: rg, Row: row, Column: col, Err: err}
	}
	return corrupt(rg, row, col, err)
}

// corrupt is an Error wrapping shared.ErrCorrupt.
func corrupt(rg int, row int64, col string, err error) *Error {
	if rg < 0 {
		rg = 0
	}
	return &Error{RowGroup: rg, Row: row, Column: col, Err: fmt.Errorf("%w: %w", shared.ErrCorrupt, err)}
}

// panicked turns a recovered panic of parquet-go (malformed input) into an
// error.
func (r *Reader) panicked(p any) error { return r.panickedIn(p, r.curCol) }

// panickedIn is panicked for a panic met reading column col.
func (r *Reader) panickedIn(p any, col string) error {
	if ioErr := r.src.err(); ioErr != nil {
		return ioErr
	}
	rg := max(r.rg, 0)
	err := corrupt(rg, r.row, col, fmt.Errorf("the Parquet decoder failed: %v", p))
	if debugPanics {
		err.Hint = string(debug.Stack())
	}
	return err
}

// debugPanics adds the stack of a recovered panic to the error's hint
// (tests set it).
var debugPanics = false
