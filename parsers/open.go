package parsers

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/s3ingest/s3ingest/parsers/internal/parquet"
)

// sniffBytes is how much of the (decompressed) head is peeked to sniff the
// format, the encoding and the CSV dialect.
const sniffBytes = 64 << 10

// Open opens obj and returns a Reader of its rows.
//
// It streams obj.Open(ctx, 0, -1), sniffs the compression (magic bytes
// first, then the .gz/.zst/.bz2 extension), the format (Parquet magic
// "PAR1" at offset 0 of an uncompressed object; JSON if the first character
// after a byte order mark and white space is '{' or '['; CSV otherwise; the
// extension .csv/.tsv/.json/.ndjson/.jsonl/.parquet decides for an empty
// object), then infers the schema from a bounded sample (unless
// opts.Schema is set). The name is a hint the content must not contradict:
// an object named .json/.ndjson/.jsonl holds JSON (a stream of scalars, 1
// or "a" on each line, is JSON too) and one named .parquet holds Parquet,
// or Open fails with a *ParseError wrapping ErrCorrupt that says what the
// object starts with (e.g. `starts with "id,name": looks like CSV`). The sample rows are kept and replayed by Next, so the
// object is read once. opts.Format and opts.Compression override sniffing.
//
// A CSV or JSON object is streamed under ctx for as long as the reader is
// open (the body, its read-ahead and the pipeline of Next, see
// pipeline.go): cancelling ctx ends the read with its error; Close stops
// every goroutine the reader started.
func Open(ctx context.Context, obj Object, opts Options) (Reader, error) {
	opts = opts.withDefaults()
	if _, err := opts.rescueIndex(obj.Name()); err != nil {
		return nil, err
	}
	if opts.Format == FormatParquet {
		return openParquet(ctx, obj, opts)
	}
	if parquetByName(obj, opts) {
		r, err := openParquet(ctx, obj, opts)
		if !errors.Is(err, parquet.ErrNotParquet) {
			return r, err
		}
	}
	// The object's body is read ahead by a goroutine (see prefetch.go):
	// its own context lets Close unblock a read waiting on the network.
	bctx, cancel := context.WithCancel(ctx)
	rc, err := obj.Open(bctx, 0, -1)
	if err != nil {
		cancel()
		return nil, err
	}
	s, err := newStream(ctx, obj.Name(), rc, opts, -1)
	if err != nil {
		rc.Close()
		cancel()
		return nil, err
	}
	s.bodyCtx, s.cancelBody = bctx, cancel
	s.readAhead()
	r, err := openStream(ctx, obj, s, opts)
	if err != nil {
		s.Close()
		return nil, err
	}
	if tr, ok := r.(*reader); ok {
		tr.pipelined = true
	}
	return r, nil
}

// parquetByName reports whether obj should be tried as Parquet before any
// stream is opened: its name ends in ".parquet" and neither the format nor a
// compression is forced. This saves the ranged reads of a Parquet object a
// streamed GET of its head; an object without the Parquet magic is then
// sniffed, which fails saying what it holds (unless it is compressed
// Parquet, which fails as unsupported).
func parquetByName(obj Object, opts Options) bool {
	return opts.Format == FormatAuto &&
		(opts.Compression == CompressionAuto || opts.Compression == CompressionNone) &&
		strings.HasSuffix(strings.ToLower(obj.Name()), ".parquet")
}

// openStream sniffs the format of an opened stream and builds the reader.
func openStream(ctx context.Context, obj Object, s *stream, opts Options) (Reader, error) {
	format, err := s.sniffFormat(opts)
	if err != nil {
		return nil, err
	}
	switch format {
	case FormatParquet:
		if s.comp != CompressionNone {
			return nil, &ParseError{Object: s.name, RowGroup: -1,
				Err:  fmt.Errorf("%w: a Parquet file inside %s compression", ErrUnsupported, s.comp),
				Hint: "store Parquet files uncompressed (Parquet compresses its pages itself)"}
		}
		s.Close()
		return openParquet(ctx, obj, opts)
	case FormatJSON:
		return newJSONReader(ctx, s, opts)
	case FormatCSV:
		return newCSVReader(ctx, s, opts)
	}
	return nil, &ParseError{Object: s.name, RowGroup: -1,
		Err: fmt.Errorf("%w: format %q", ErrUnsupported, format), Hint: "set format to csv, json or parquet"}
}

// withDefaults fills zero fields with the documented defaults.
func (o Options) withDefaults() Options {
	if o.SampleRows <= 0 {
		o.SampleRows = DefaultSampleRows
	}
	if o.SampleBytes <= 0 {
		o.SampleBytes = DefaultSampleBytes
	}
	if o.BatchRows <= 0 {
		o.BatchRows = DefaultBatchRows
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.MaxDecompressedBytes <= 0 {
		o.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	if o.MaxColumns <= 0 {
		o.MaxColumns = DefaultMaxColumns
	}
	o.MaxColumns = min(o.MaxColumns, MaxMaxColumns)
	if o.JSON.MaxDepth == 0 {
		o.JSON.MaxDepth = DefaultJSONDepth
	}
	if o.JSON.MaxDepth < 0 {
		o.JSON.MaxDepth = 0
	}
	if o.Parallelism <= 0 {
		o.Parallelism = min(runtime.GOMAXPROCS(0), DefaultParallelism)
	}
	o.Parallelism = min(o.Parallelism, MaxParallelism)
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = DefaultChunkBytes
	}
	o.ChunkBytes = min(o.ChunkBytes, MaxChunkBytes)
	o.SampleRows = min(o.SampleRows, MaxSampleRows)
	o.SampleBytes = min(o.SampleBytes, MaxSampleBytes)
	o.BatchRows = min(o.BatchRows, MaxBatchRows)
	o.MaxLineBytes = min(o.MaxLineBytes, MaxMaxLineBytes)
	return o
}

func (o *Options) warn(msg string) {
	if o.OnWarning != nil {
		o.OnWarning(msg)
	}
}

// stream is an object's byte stream after decompression, with a peekable
// head.
type stream struct {
	name string
	raw  *rawReader
	br   *bufio.Reader // decompressed bytes
	comp Compression
	dec  io.Closer // decompressor to close, if any
	lim  *limitReader

	// head mode (Preview): only the first headLimit bytes of the object were
	// requested.
	headLimit int64
	size      int64
	// cut is set when the stream ended early because only the head was read.
	cut bool

	// inner is what br reads: the decompressed (or raw) bytes.
	inner io.Reader
	// ahead reads inner ahead in a goroutine (Open only, see readAhead);
	// cancelBody cancels the context of the object's body.
	ahead      *aheadReader
	bodyCtx    context.Context
	cancelBody context.CancelFunc
}

// rawReader remembers the errors of the object's own stream so that they are
// told apart from corrupt compressed data.
type rawReader struct {
	rc  io.ReadCloser
	n   int64
	err error
}

func (r *rawReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.n += int64(n)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// limitReader stops decompression bombs.
type limitReader struct {
	r     io.Reader
	n     int64
	limit int64
	name  string
	comp  Compression
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return 0, &ParseError{Object: l.name, RowGroup: -1,
			Err:  fmt.Errorf("%w: %s data decompresses to more than %d bytes", ErrTooLarge, l.comp, l.limit),
			Hint: "raise max_decompressed_bytes if the object is legitimately this large"}
	}
	return n, err
}

// errorMapper turns decompressor failures into ParseErrors while passing
// errors of the underlying stream (network, cancellation) through unchanged.
type errorMapper struct {
	r    io.Reader
	s    *stream
	comp Compression
}

func (m *errorMapper) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		return n, err
	}
	if m.s.raw.err != nil {
		return n, m.s.raw.err
	}
	if m.s.headLimit >= 0 && m.s.headTruncated() {
		// Preview of a compressed head: the compressed stream was cut on
		// purpose, so it ends wherever it ends.
		m.s.cut = true
		return n, io.EOF
	}
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return n, &ParseError{Object: m.s.name, RowGroup: -1,
			Err:  fmt.Errorf("%w: a zstd frame needs a window of more than %d MiB (%v)", ErrTooLarge, MaxZstdWindow>>20, err),
			Hint: "compress the object with a smaller window (zstd levels up to 19 without --long use at most 8 MiB)"}
	}
	return n, &ParseError{Object: m.s.name, RowGroup: -1,
		Err:  fmt.Errorf("%w: %s data: %v", ErrCorrupt, m.comp, err),
		Hint: fmt.Sprintf("the object is not valid %s; set compression to %q if it is not compressed", m.comp, CompressionNone)}
}

// headTruncated reports whether the head read for a preview is shorter than
// the object.
func (s *stream) headTruncated() bool {
	if s.headLimit < 0 {
		return false
	}
	if s.size >= 0 {
		return s.size > s.headLimit
	}
	return s.raw.n >= s.headLimit
}

// eofReader marks a cut when a preview's uncompressed head ends before the
// object does.
type eofReader struct {
	r io.Reader
	s *stream
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF && e.s.headTruncated() {
		e.s.cut = true
	}
	return n, err
}

// newStream wraps rc with the sniffed or configured decompressor. headLimit
// is the number of bytes requested for a preview, or -1 for a full read.
func newStream(ctx context.Context, name string, rc io.ReadCloser, opts Options, headLimit int64) (*stream, error) {
	s := &stream{name: name, raw: &rawReader{rc: rc}, headLimit: headLimit, size: -1}
	rawBr := bufio.NewReaderSize(s.raw, 64<<10)
	comp := opts.Compression
	if comp == CompressionAuto {
		magic, err := rawBr.Peek(4)
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return nil, err
		}
		comp = sniffCompression(magic)
		if comp == CompressionNone {
			if ext := compressionExt(name); ext != CompressionNone {
				opts.warn(fmt.Sprintf("%s: the name ends in a %s extension but the data does not start with %s magic bytes; reading it as uncompressed", name, ext, ext))
			}
		}
	}
	s.comp = comp
	var dec io.Reader
	switch comp {
	case CompressionNone:
		s.inner = &eofReader{r: rawBr, s: s}
		s.br = bufio.NewReaderSize(s.inner, sniffBytes)
		return s, nil
	case CompressionGzip:
		zr, err := gzip.NewReader(rawBr)
		if err != nil {
			if s.raw.err != nil {
				return nil, s.raw.err
			}
			return nil, &ParseError{Object: name, RowGroup: -1, Err: fmt.Errorf("%w: gzip header: %v", ErrCorrupt, err),
				Hint: `the object is not valid gzip; set compression to "none" if it is not compressed`}
		}
		zr.Multistream(true)
		s.dec = zr
		dec = zr
	case CompressionZstd:
		// The window is what a zstd frame makes the decoder hold; a frame
		// declares it (or, single-segment, its content size: which the
		// decoder checks against MaxMemory only) in a few bytes.
		zr, err := zstd.NewReader(rawBr, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(MaxZstdWindow), zstd.WithDecoderMaxMemory(MaxZstdWindow))
		if err != nil {
			return nil, &ParseError{Object: name, RowGroup: -1, Err: fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)}
		}
		s.dec = closerFunc(func() error { zr.Close(); return nil })
		dec = zr
	case CompressionBzip2:
		dec = bzip2.NewReader(rawBr)
	default:
		return nil, &ParseError{Object: name, RowGroup: -1, Err: fmt.Errorf("%w: compression %q", ErrUnsupported, comp),
			Hint: "set compression to gzip, zstd, bzip2 or none"}
	}
	s.lim = &limitReader{r: &errorMapper{r: dec, s: s, comp: comp}, limit: opts.MaxDecompressedBytes, name: name, comp: comp}
	s.inner = s.lim
	s.br = bufio.NewReaderSize(s.inner, sniffBytes)
	return s, nil
}

// readAhead makes the stream read its object (and decompress it) in a
// goroutine ahead of the parser. It must be called before anything is read
// from s.br, and only for a full read (not a preview's head, whose cut
// flag is set by the reading goroutine).
func (s *stream) readAhead() {
	if s.headLimit >= 0 || s.ahead != nil {
		return
	}
	ctx := s.bodyCtx
	if ctx == nil {
		ctx = context.Background()
	}
	s.ahead = newAheadReader(ctx, s.inner)
	s.br = bufio.NewReaderSize(s.ahead, sniffBytes)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// Close releases the decompressor and the object's stream. It first stops
// the read-ahead goroutine (cancelling the body's context so that a read
// blocked on the network returns) and waits for it, so that the
// decompressor and the body are never closed while it reads them.
func (s *stream) Close() error {
	s.stopReadAhead()
	if s.dec != nil {
		s.dec.Close()
		s.dec = nil
	}
	if s.raw != nil && s.raw.rc != nil {
		err := s.raw.rc.Close()
		s.raw.rc = nil
		if s.cancelBody != nil && errors.Is(err, context.Canceled) {
			err = nil // the body's context was cancelled by Close itself
		}
		return err
	}
	return nil
}

// stopReadAhead stops the read-ahead goroutine, if any, and waits for it:
// it cancels the body's context so that a read blocked on the network
// returns. Reading the stream then fails with context.Canceled.
func (s *stream) stopReadAhead() {
	if s.cancelBody != nil {
		s.cancelBody()
	}
	if s.ahead != nil {
		s.ahead.stop()
	}
}

// head peeks up to sniffBytes of decompressed data.
func (s *stream) head() ([]byte, error) {
	b, err := s.br.Peek(sniffBytes)
	if err == io.EOF || err == bufio.ErrBufferFull {
		err = nil
	}
	return b, err
}

// sniffCompression recognises gzip, zstd and bzip2 by their magic bytes.
func sniffCompression(b []byte) Compression {
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return CompressionGzip
	case len(b) >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd:
		return CompressionZstd
	case len(b) >= 4 && b[0]&0xf0 == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18:
		return CompressionZstd // skippable frame
	case len(b) >= 4 && b[0] == 'B' && b[1] == 'Z' && b[2] == 'h' && b[3] >= '1' && b[3] <= '9':
		return CompressionBzip2
	}
	return CompressionNone
}

// compressionExt returns the compression named by the object's extension.
func compressionExt(name string) Compression {
	switch strings.ToLower(path.Ext(name)) {
	case ".gz", ".gzip":
		return CompressionGzip
	case ".zst", ".zstd":
		return CompressionZstd
	case ".bz2":
		return CompressionBzip2
	}
	return CompressionNone
}

// formatExt returns the format named by the extension left once a
// compression extension is stripped, and whether it names TSV.
func formatExt(name string) (Format, bool) {
	name = strings.ToLower(name)
	if compressionExt(name) != CompressionNone {
		name = strings.TrimSuffix(name, path.Ext(name))
	}
	switch path.Ext(name) {
	case ".csv", ".txt":
		return FormatCSV, false
	case ".tsv", ".tab":
		return FormatCSV, true
	case ".json", ".ndjson", ".jsonl":
		return FormatJSON, false
	case ".parquet", ".parq":
		return FormatParquet, false
	}
	return FormatAuto, false
}

// sniffFormat decides the format from the head.
func (s *stream) sniffFormat(opts Options) (Format, error) {
	if opts.Format != FormatAuto {
		return opts.Format, nil
	}
	head, err := s.head()
	if err != nil {
		return "", err
	}
	named, _ := formatExt(s.name)
	if bytes.HasPrefix(head, []byte("PAR1")) {
		if named == FormatJSON {
			return "", notJSON(s.name, head)
		}
		return FormatParquet, nil
	}
	c := firstChar(head)
	if named == FormatParquet && len(head) > 0 {
		what := describeHead(head)
		if s.comp != CompressionNone {
			what = fmt.Sprintf("its %s-decompressed content %s", s.comp, what)
		}
		return "", &ParseError{Object: s.name, RowGroup: -1,
			Err:  fmt.Errorf("%w: invalid Parquet: no \"PAR1\" magic: %s", ErrCorrupt, what),
			Hint: "the name says Parquet: fix the content, or set format to the one it holds (e.g. csv)"}
	}
	switch {
	case c == '{' || c == '[':
		return FormatJSON, nil
	case c == 0 && len(bytes.Trim(head, " \t\r\n\x00\xef\xbb\xbf\xfe\xff")) == 0:
		// empty, or only white space
		if named != FormatAuto {
			return named, nil
		}
	case named == FormatJSON:
		// The name is a hint the content must not contradict: a JSON
		// object holds JSON (here a stream of scalars), or fails.
		if !jsonScalarHead(head) {
			return "", notJSON(s.name, head)
		}
		return FormatJSON, nil
	}
	return FormatCSV, nil
}

// jsonScalarHead reports whether the first line of head is one JSON scalar
// (a number, string, true, false or null), the start of an NDJSON of
// scalars.
func jsonScalarHead(head []byte) bool {
	head = bytes.TrimPrefix(head, bomUTF8)
	line := head
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	} else if len(head) >= sniffBytes {
		return false // a first line longer than the head is no scalar
	}
	p := jsonParser{cols: &jsonCols{index: map[string]int{}}, final: true, buf: line, scalars: true}
	start := p.wsIn(line, 0)
	end, err := p.document(start)
	return err == nil && p.wsIn(line, end) == len(line)
}

// notJSON is the error of an object named as JSON whose content is not.
func notJSON(name string, head []byte) *ParseError {
	return &ParseError{Object: name, RowGroup: -1,
		Err:  fmt.Errorf("%w: invalid JSON: %s", ErrCorrupt, describeHead(head)),
		Hint: "the name says JSON: fix the content, or set format to the one it holds (e.g. csv)"}
}

// describeHead says what the first bytes of an object look like, for an
// error about content that contradicts its name: e.g.
// `starts with "id,name": looks like CSV`.
func describeHead(head []byte) string {
	if len(head) == 0 {
		return "the object is empty"
	}
	line := head
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	}
	line = bytes.TrimSuffix(line, []byte{'\r'})
	var what string
	switch text := bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf"); {
	case bytes.HasPrefix(head, []byte("PAR1")):
		what = "looks like Parquet"
	case sniffCompression(head) != CompressionNone:
		what = fmt.Sprintf("looks like %s-compressed data", sniffCompression(head))
	case bytes.HasPrefix(head, bomUTF16LE) || bytes.HasPrefix(head, bomUTF16BE):
		what = "looks like UTF-16 text"
	case bytes.IndexByte(head[:min(len(head), 512)], 0) >= 0 || !validUTF8Head(head[:min(len(head), 512)], len(head) <= 512):
		return fmt.Sprintf("starts with %q: looks like binary data", shortBytes(head, 16))
	case len(text) > 0 && text[0] == '<':
		what = "looks like XML or HTML"
	case len(text) > 0 && (text[0] == '{' || text[0] == '['):
		what = "looks like JSON"
	case bytes.ContainsAny(line, ",;\t|"):
		what = "looks like CSV"
	default:
		what = "is not JSON, CSV or Parquet"
	}
	return fmt.Sprintf("starts with %q: %s", shortBytes(line, 32), what)
}

// shortBytes returns at most n bytes of b, cut at a rune boundary.
func shortBytes(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "..."
}

// firstChar returns the first non-space ASCII character after a byte order
// mark (UTF-8 or UTF-16), or 0 if there is none in b.
func firstChar(b []byte) byte {
	step, off := 1, 0
	switch {
	case bytes.HasPrefix(b, bomUTF8):
		off = 3
	case bytes.HasPrefix(b, bomUTF16LE):
		step, off = 2, 2
	case bytes.HasPrefix(b, bomUTF16BE):
		step, off = 2, 3
	}
	for i := off; i < len(b); i += step {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			continue
		case 0:
			return 0
		}
		return b[i]
	}
	return 0
}

var (
	bomUTF8    = []byte{0xef, 0xbb, 0xbf}
	bomUTF16LE = []byte{0xff, 0xfe}
	bomUTF16BE = []byte{0xfe, 0xff}
)

// textReader returns a UTF-8 view of s: it removes a UTF-8 byte order mark,
// decodes UTF-16 (by BOM or configured) and Latin-1/Windows-1252
// (configured, or when the head is not valid UTF-8). It returns the
// encoding's name.
func textReader(s *stream, configured string, opts *Options) (io.Reader, string, error) {
	head, err := s.head()
	if err != nil {
		return nil, "", err
	}
	var enc encoding.Encoding
	name := "utf-8"
	switch strings.ToLower(strings.ReplaceAll(configured, "_", "-")) {
	case "", "auto":
		switch {
		case bytes.HasPrefix(head, bomUTF8):
			s.br.Discard(3)
		case bytes.HasPrefix(head, bomUTF16LE):
			enc, name = unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM), "utf-16le"
		case bytes.HasPrefix(head, bomUTF16BE):
			enc, name = unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), "utf-16be"
		default:
			if !validUTF8Head(head, len(head) < sniffBytes) {
				enc, name = charmap.Windows1252, "windows-1252"
				opts.warn(fmt.Sprintf("%s: the data is not valid UTF-8; decoding it as Windows-1252 (set csv.encoding to override)", s.name))
			}
		}
	case "utf-8", "utf8":
		if bytes.HasPrefix(head, bomUTF8) {
			s.br.Discard(3)
		}
	case "utf-16le", "utf16le":
		enc, name = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), "utf-16le"
	case "utf-16be", "utf16be":
		enc, name = unicode.UTF16(unicode.BigEndian, unicode.UseBOM), "utf-16be"
	case "utf-16", "utf16":
		enc, name = unicode.UTF16(unicode.BigEndian, unicode.UseBOM), "utf-16"
	case "latin-1", "latin1", "iso-8859-1", "iso8859-1":
		enc, name = charmap.ISO8859_1, "latin-1"
	case "windows-1252", "cp1252":
		enc, name = charmap.Windows1252, "windows-1252"
	default:
		return nil, "", &ParseError{Object: s.name, RowGroup: -1, Err: fmt.Errorf("%w: encoding %q", ErrUnsupported, configured),
			Hint: "set csv.encoding to utf-8, utf-16le, utf-16be, latin-1 or windows-1252"}
	}
	if enc == nil {
		return s.br, name, nil
	}
	return transform.NewReader(s.br, enc.NewDecoder()), name, nil
}

// validUTF8Head reports whether b is valid UTF-8, allowing a rune cut at the
// end unless atEOF.
func validUTF8Head(b []byte, atEOF bool) bool {
	if utf8.Valid(b) {
		return true
	}
	if atEOF {
		return false
	}
	for i := 1; i <= 3 && i < len(b); i++ {
		if utf8.Valid(b[:len(b)-i]) {
			return true
		}
	}
	return false
}
