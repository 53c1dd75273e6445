// Package parsers turns the bytes of an object into typed batches of rows.
//
// It sniffs compression (magic bytes first, file extension second) and format
// (CSV/TSV, newline-delimited JSON or a JSON array, Parquet), infers a schema
// from a bounded sample, and then streams the object in batches of typed
// columns (see package schema). It knows bytes and rows only: no AWS, no
// Redis, no asynq. The worker adapts S3 objects to the Object interface.
//
// # Memory and time: bounded for every shape of input
//
// Reading one object takes at most ObjectMemoryBudget bytes at the default
// Options, whatever the object holds, so a process that reads N objects at
// once (the daemon's S3INGEST_MAX_OBJECTS) stays under N × ObjectMemoryBudget
// plus its own baseline. Every input dimension has a limit with a clear
// *ParseError (ErrTooLarge) naming the object and the count:
//
//	columns          MaxColumns (10,000): CSV header fields, flattened JSON
//	                 keys, Parquet leaf columns (counted on the footer's
//	                 bytes before parquet-go decodes it)
//	a record         MaxLineBytes (8 MiB): a CSV record, a JSON document
//	a batch          schema.BatchFixedBytes (16 MiB) of lines, nulls,
//	                 numbers and offsets: a wide schema gets fewer rows; plus
//	                 32 MiB of string and JSON text and one record (the
//	                 rescued JSON of Options.RescueColumn counts as text;
//	                 one row's is at most twice MaxLineBytes)
//	the sample       SampleRows, SampleBytes (1 MiB of text) and 4 MiB of cells
//	decompression    MaxDecompressedBytes of output; a zstd window of
//	                 MaxZstdWindow (32 MiB); gzip and bzip2 keep fixed state
//	                 (32 KiB and 900 KB blocks)
//	JSON nesting     10,000 levels
//	a Parquet footer 256 MiB, and what it would decode to 256 MiB
//	                 (estimated: ~1.5 KiB per row group and column chunk)
//	Parquet pages    256 MiB each (parquetguard), checked before allocation
//
// The budget of a CSV or JSON object at the defaults: batches 16 MiB +
// text 16 MiB + the rows that cross a batch's cap (two records of 8 MiB,
// and 1 MiB for each other batch in flight: 9 MiB with 4 workers) + the
// record buffer 8 MiB (up to 12 MiB while it grows) + chunks 6 MiB + the
// read-ahead 1 MiB + sample 5 MiB + per-column inference state (~1.2 KiB
// per column, 12 MiB at 10,000 columns) + the zstd window 32 MiB (+1
// MiB): about 126 MiB with the default Parallelism (at most 4 workers).
//
// Reading is pipelined (see pipeline.go): a goroutine reads the object and
// decompresses it ahead of the parser (4 buffers of 256 KiB), and the
// batches are filled ahead of Next, in parallel for CSV and NDJSON: the
// stream after the sample is cut into chunks of ChunkBytes at exact record
// boundaries (quote-aware for CSV, see split.go) and Parallelism workers
// parse them; rows, lines, values, rejects and warnings are those of one
// parser, in the same order (only where a batch ends differs). With W
// workers, k = 2W+3 batches are alive (4 with one parser), each capped at
// 1/k of the batch and text budgets above, so the batches take the same
// budget whatever W; chunks take (W+2) × ChunkBytes.
// A Parquet object: per-column read buffers 32 MiB (32 KiB per column beyond
// 1,024 columns) + two read-ahead windows of 4 MiB (8 MiB) + the batch 48 MiB (56
// MiB when the next batch is filled while the caller uses one: the caller's
// batch and a half-size spare, each filled to half the budgets) + one
// decoded page per column (the writer's page size, usually 1 MiB or less) +
// the decoded footer (~1.5 KiB per row group and per column chunk: 15 MiB
// for 100 columns in 100 row groups; a footer estimated over 256 MiB is
// refused).
// Raising MaxLineBytes, SampleBytes or MaxColumns raises the budget
// accordingly (by twice MaxLineBytes, for instance).
//
// Time is linear in the input: header de-duplication, sniffing, inference,
// a record that spans many reads (scanned again only when the unread data
// doubles) and the Parquet guards; long loops check their context.
package parsers

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Object is a named, sized byte source. The S3 source implements it with
// ranged GetObject requests pinned to one ETag; local files implement it with
// os.File. Parquet is read with ranged Open calls, each governed by the
// context of the reader call that issued it (or, for a batch filled ahead
// of Next, by the reader's own, derived from Open's) and resumed if its
// body breaks off; an io.ReaderAt the Object may also implement is not used (it cannot
// take a context).
type Object interface {
	// Name identifies the object in errors, e.g. "s3://bucket/key".
	Name() string
	// Size is the object's size in bytes, or -1 if unknown.
	Size() int64
	// Open streams the bytes [off, off+n); n < 0 means to the end.
	Open(ctx context.Context, off, n int64) (io.ReadCloser, error)
}

// Format is a file format.
type Format string

// Formats.
const (
	FormatAuto    Format = ""
	FormatCSV     Format = "csv"
	FormatJSON    Format = "json"
	FormatParquet Format = "parquet"
)

// Compression is a compression codec applied to a whole object.
type Compression string

// Compressions.
const (
	CompressionAuto  Compression = ""
	CompressionNone  Compression = "none"
	CompressionGzip  Compression = "gzip"
	CompressionZstd  Compression = "zstd"
	CompressionBzip2 Compression = "bzip2"
)

// HeaderMode says whether a CSV file starts with a header row.
type HeaderMode string

// Header modes.
const (
	HeaderAuto    HeaderMode = ""        // detect
	HeaderPresent HeaderMode = "present" // the first row names the columns
	HeaderAbsent  HeaderMode = "absent"  // columns are named c1, c2, ...
)

// RaggedPolicy says what happens to a CSV row whose field count differs from
// the header's.
type RaggedPolicy string

// Ragged row policies.
const (
	RaggedReject RaggedPolicy = ""    // the row is rejected (counts against the error budget)
	RaggedPad    RaggedPolicy = "pad" // missing fields become null, extra fields are dropped
)

// CSVOptions configure the CSV/TSV reader. The zero value sniffs everything.
type CSVOptions struct {
	// Delimiter is the field separator; 0 sniffs among ',', ';', '\t' and '|'.
	Delimiter rune `json:"delimiter,omitempty"`
	// Header says whether the first row is a header; "" detects it.
	Header HeaderMode `json:"header,omitempty"`
	// Encoding is "utf-8", "utf-16le", "utf-16be", "latin-1" or
	// "windows-1252"; "" means UTF-8, UTF-16 by BOM, and Windows-1252 when the
	// sample is not valid UTF-8.
	Encoding string `json:"encoding,omitempty"`
	// Ragged is the policy for rows with the wrong number of fields.
	Ragged RaggedPolicy `json:"ragged,omitempty"`
	// Nulls are the field values read as null. nil means DefaultNullTokens;
	// an empty unquoted field is always null. A quoted value is never null
	// in a string column ("" is then the empty string).
	Nulls []string `json:"nulls,omitempty"`
}

// DefaultNullTokens are the CSV values read as null when CSVOptions.Nulls is
// nil. "N/A", "NA", "-" and "NaN" are deliberately not in the set: they are
// too often real values (a column holding them infers as string, and the
// field's Reason names the value).
var DefaultNullTokens = []string{"", "NULL", "null", "Null", `\N`}

// JSONOptions configure the JSON reader.
type JSONOptions struct {
	// MaxDepth is how many levels of nested objects are flattened into
	// dotted column names; deeper values and arrays are kept as JSON text.
	// With MaxDepth 1, {"a":{"b":{"c":1}}} gives the column "a.b" holding
	// {"c":1}; a column name thus has at most MaxDepth+1 segments.
	// 0 means DefaultJSONDepth; a negative value disables flattening.
	MaxDepth int `json:"max_depth,omitempty"`
}

// Defaults used when the corresponding Options field is zero.
const (
	DefaultSampleRows           = 1000
	DefaultSampleBytes          = 1 << 20
	DefaultBatchRows            = 8192
	DefaultMaxLineBytes         = 8 << 20
	DefaultMaxDecompressedBytes = 64 << 30
	DefaultJSONDepth            = 3
	DefaultPreviewRows          = 100
	DefaultPreviewHeadBytes     = 4 << 20
	DefaultMaxColumns           = 10_000
	DefaultParallelism          = 4
	DefaultChunkBytes           = 1 << 20
)

// Upper bounds of the Options sizes: larger values are clamped, so a payload
// cannot make a worker allocate without bound.
const (
	MaxBatchRows    = 1 << 16
	MaxSampleRows   = 100_000
	MaxSampleBytes  = 64 << 20
	MaxMaxLineBytes = 256 << 20
	MaxMaxColumns   = 100_000
	MaxParallelism  = 64
	MaxChunkBytes   = 16 << 20
)

// ObjectMemoryBudget is the most memory reading one object takes at the
// default Options (see the package doc for its parts), pipelined and
// parallel reading included (at the default Parallelism and ChunkBytes;
// about 3 × ChunkBytes more per worker beyond 4): a process reading N
// objects at once stays under N × ObjectMemoryBudget above its baseline.
const ObjectMemoryBudget = 128 << 20

// MaxZstdWindow bounds the window a zstd frame may ask the decoder to keep
// (32 MiB: zstd levels up to 19 use at most 8 MiB, --ultra -20 32 MiB). A frame declaring a larger window, e.g. written with
// --long or --ultra -22, fails with a *ParseError wrapping ErrTooLarge
// instead of making the worker allocate what 21 bytes of header ask for.
const MaxZstdWindow = 32 << 20

// Options configure Open and Preview. The zero value sniffs and infers
// everything with the documented defaults.
type Options struct {
	// Format forces a format; "" sniffs it.
	Format Format `json:"format,omitempty"`
	// Compression forces a codec; "" sniffs it.
	Compression Compression `json:"compression,omitempty"`
	// CSV configures CSV/TSV.
	CSV CSVOptions `json:"csv,omitempty"`
	// JSON configures JSON.
	JSON JSONOptions `json:"json,omitempty"`
	// Schema, when set, skips inference: columns are matched by name and
	// converted to these types (missing columns are null).
	Schema *schema.Schema `json:"-"`
	// RescueColumn, when set, names a nullable column of Schema of type
	// json (the worker uses "_rescued") that keeps, per row, what the
	// schema cannot hold, so that nothing is dropped and nothing is
	// rejected for schema or type reasons (the rescued-data column of
	// Databricks Auto Loader):
	//
	//   - the values of source columns the schema does not have (CSV
	//     header names, flattened JSON keys, Parquet leaf columns), and a
	//     source column named like the rescue column itself;
	//   - values that do not convert to their column's type: the column
	//     gets null and the value is rescued instead of the row being
	//     rejected through OnReject. (Parquet: a file column of another
	//     type than its schema column is rescued whole, except int64 into
	//     float64, where values beyond 2^53 in magnitude are rescued, and
	//     date into timestamp, at midnight UTC.)
	//
	// The rescue column holds ONE JSON object per row keyed by source
	// column name, in source column order (CSV: header order; JSON: the
	// document's key order; Parquet: the file's column order), e.g.
	// {"email":"a@b.c","amount":"12.3.4"}. A CSV value is a JSON string of
	// the raw field; a JSON value is the document's own value (a string,
	// number, boolean, object or array); a Parquet value is its natural
	// JSON form (numbers and booleans as such, strings, dates and
	// timestamps as strings as schema.Vector.Text renders them, nested
	// values as JSON). Null values are not rescued (a CSV field that reads
	// as null by csv.nulls, a JSON null, a Parquet null). A row with
	// nothing to rescue has null in the rescue column. There are no
	// warnings about source columns outside the schema (their values are
	// kept).
	//
	// Still rejected through OnReject: rows that are broken (a CSV row
	// whose field count breaks csv.ragged, an invalid JSON line, a
	// document that is not an object), a null (or a rescued value) in a
	// column the schema says is not nullable, values that are not valid
	// UTF-8, and a row whose rescued JSON would pass twice max_line_bytes
	// (ErrTooLarge). RescueColumn without Schema, or naming no nullable
	// json column of it, makes Open and Preview fail with a *ParseError
	// wrapping ErrUnsupported.
	RescueColumn string `json:"rescue_column,omitempty"`
	// SampleRows and SampleBytes bound the inference sample (defaults
	// DefaultSampleRows, DefaultSampleBytes).
	SampleRows  int `json:"sample_rows,omitempty"`
	SampleBytes int `json:"sample_bytes,omitempty"`
	// BatchRows is the number of rows per batch (DefaultBatchRows).
	BatchRows int `json:"batch_rows,omitempty"`
	// Parallelism bounds the goroutines that parse one CSV or NDJSON
	// object at once (see pipeline.go): 0 means GOMAXPROCS, at most
	// DefaultParallelism; 1 parses with one parser (still reading ahead
	// of the consumer); at most MaxParallelism. JSON arrays, concatenated
	// documents and text transcoded from another encoding are read by
	// one parser. Each worker beyond the default adds about 3 ×
	// ChunkBytes to the memory of an object (a chunk, and the rows that
	// cross the cap of two more batches in flight; the batches' caps
	// shrink so that together they take the same).
	// Not a payload field: how many cores and bytes one object may take is
	// the process's to decide (ObjectMemoryBudget), not a job's.
	Parallelism int `json:"-"`
	// ChunkBytes is the size of the ranges a CSV or NDJSON object is cut
	// into for parallel parsing (DefaultChunkBytes, at most
	// MaxChunkBytes, at most MaxLineBytes). From a record longer than a
	// chunk on, the object is parsed by one parser.
	// Not a payload field, like Parallelism.
	ChunkBytes int `json:"-"`
	// MaxLineBytes bounds one CSV record or JSON document (DefaultMaxLineBytes).
	MaxLineBytes int `json:"max_line_bytes,omitempty"`
	// MaxDecompressedBytes stops decompression bombs
	// (DefaultMaxDecompressedBytes).
	MaxDecompressedBytes int64 `json:"max_decompressed_bytes,omitempty"`
	// MaxColumns bounds the columns of an object (DefaultMaxColumns, at
	// most MaxMaxColumns): the fields of a CSV header (or first record),
	// the distinct flattened keys of the sampled JSON documents, the leaf
	// columns of a Parquet footer. An object over it fails with a
	// *ParseError wrapping ErrTooLarge that names the count; a later CSV
	// record with more fields is rejected as a row.
	MaxColumns int `json:"max_columns,omitempty"`
	// OnReject is called for each row that cannot be converted (a wrong
	// type, a ragged row, an invalid JSON line). If it returns nil the row is
	// skipped and reading goes on; an error it returns is returned by Next.
	// A nil OnReject rejects nothing: the first bad row fails the read.
	OnReject func(*ParseError) error `json:"-"`
	// OnWarning, if set, receives things the user should know that do not
	// reject a row: keys outside the sampled columns (once per key, capped),
	// an encoding fallback, a compression extension that does not match the
	// data. Preview returns them as PreviewResult.Warnings.
	OnWarning func(msg string) `json:"-"`
}

// Reader streams an object's rows in batches.
type Reader interface {
	// Schema is the schema of every batch Next fills.
	Schema() *schema.Schema
	// Info describes what was sniffed.
	Info() Info
	// Next resets b and fills it with up to Options.BatchRows rows. It
	// returns io.EOF (and an empty batch) when the object is exhausted. A
	// batch from NewBatch(Schema()) must be used. Next may replace b's
	// vectors and lines with other arrays (a reader filling batches ahead
	// swaps them): nothing taken from b stays valid across calls.
	Next(ctx context.Context, b *schema.Batch) error
	// Close releases the underlying stream.
	Close() error
}

// Info is what sniffing found out about an object.
type Info struct {
	Format      Format      `json:"format"`
	Compression Compression `json:"compression"`
	// Delimiter, Header and Encoding describe a CSV dialect.
	Delimiter string `json:"delimiter,omitempty"`
	Header    bool   `json:"header,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	// JSONLayout is "ndjson" (one document per line), "array" (a
	// top-level array of objects) or "concatenated" (objects that span
	// lines, e.g. one pretty-printed object) for JSON.
	JSONLayout string `json:"json_layout,omitempty"`
	// RowCount is known up front for Parquet; -1 otherwise.
	RowCount int64 `json:"row_count"`
}

// PreviewResult is what Preview returns.
type PreviewResult struct {
	Info
	// Schema is the inferred schema with a reason per column.
	Schema *schema.Schema `json:"schema"`
	// Rows are the first rows, each in schema order (see schema.Vector.Value).
	Rows [][]any `json:"rows"`
	// Truncated reports that only the head of the object was read.
	Truncated bool `json:"truncated"`
	// Warnings lists things the user should know (rows rejected in the
	// sample, a dropped partial last line, an unknown encoding...).
	Warnings []string `json:"warnings,omitempty"`
}

// Sentinel causes carried by ParseError.Err; test with errors.Is.
var (
	// ErrUnsupported marks input that is well-formed but uses something
	// s3ingest cannot read (e.g. an encrypted Parquet file).
	ErrUnsupported = shared.ErrUnsupported
	// ErrCorrupt marks input that is not valid for its format.
	ErrCorrupt = shared.ErrCorrupt
	// ErrTooLarge marks a line, record or decompressed stream over its limit.
	ErrTooLarge = shared.ErrTooLarge
	// ErrType marks a value that does not convert to its column's type.
	ErrType = shared.ErrType
)

// ParseError is a problem with the content of an object. It says where
// (object, line or row group and row, column) and what (the raw value and
// the cause). Errors from the underlying stream (network, cancellation) are
// never ParseErrors, so callers can tell bad data from a failed read.
type ParseError struct {
	Object string // object name, e.g. "s3://bucket/key"
	Line   int64  // 1-based line (CSV/JSON); 0 when unknown or for Parquet
	// RowGroup and Row locate Parquet rows (Row is 0-based within the file);
	// RowGroup is -1 for other formats.
	RowGroup int
	Row      int64
	Column   string // column name, "" when the error is not about one column
	// Byte is the 1-based byte offset of the problem within its line (JSON
	// syntax errors); 0 when unknown.
	Byte  int64
	Value string // the raw value, shortened to at most 64 bytes
	Err   error  // the cause; wraps one of the sentinels above
	// Hint says what to fix, e.g. `set csv.delimiter` or `use a string column`.
	Hint string

	// rowLvl marks an error about one row of a text format: it is passed to
	// OnReject and reading goes on after it.
	rowLvl bool
}

// Error formats the position, the value, the cause and the hint.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.Object)
	switch {
	case e.RowGroup >= 0 && (e.Row > 0 || e.RowGroup > 0):
		fmt.Fprintf(&b, ": row group %d, row %d", e.RowGroup, e.Row)
	case e.Line > 0:
		fmt.Fprintf(&b, ": line %d", e.Line)
		if e.Byte > 0 {
			fmt.Fprintf(&b, ", byte %d", e.Byte)
		}
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ", column %q", e.Column)
	}
	if e.Value != "" {
		fmt.Fprintf(&b, ": value %q", e.Value)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same work cannot succeed: always
// true, the object's bytes are what they are (errors of the stream itself,
// which a retry may cure, are never ParseErrors).
func (e *ParseError) Permanent() bool { return true }

// Fix says what to change so the work succeeds: the Hint ("" when none is
// known).
func (e *ParseError) Fix() string { return e.Hint }

// rescueIndex checks Options.RescueColumn against Options.Schema: it
// returns the rescue column's index in the schema, -1 when RescueColumn is
// empty, or a *ParseError (ErrUnsupported) naming what is wrong.
func (o *Options) rescueIndex(object string) (int, error) {
	name := o.RescueColumn
	if name == "" {
		return -1, nil
	}
	bad := func(msg, hint string) (int, error) {
		return -1, &ParseError{Object: object, RowGroup: -1, Column: name,
			Err: fmt.Errorf("%w: rescue_column %q %s", ErrUnsupported, name, msg), Hint: hint}
	}
	if o.Schema == nil {
		return bad("is set without a schema",
			"pass the schema to load into, with the rescue column as a nullable json column, or leave rescue_column empty")
	}
	i := o.Schema.Index(name)
	switch {
	case i < 0:
		return bad("is not a column of the schema", "add the rescue column to the schema as a nullable json column")
	case o.Schema.Fields[i].Type != schema.JSON:
		return bad("is "+o.Schema.Fields[i].Type.String()+" in the schema, not json", "give the rescue column the type json")
	case !o.Schema.Fields[i].Nullable:
		return bad("is not nullable in the schema (a row with nothing to rescue has null there)", "mark the rescue column nullable")
	}
	return i, nil
}
