package parsers

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/s3ingest/s3ingest/parsers/internal/parquet"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Parquet objects are read by the engine of parsers/internal/parquet, over
// an objectReaderAt (parquet_readerat.go): every read is a ranged
// Object.Open governed by the context of the current call (or of the
// reader, when reading ahead), resumed if its body breaks off. Small row
// groups are fetched in read-ahead windows (one request for many), the
// next window while the current one is decoded; the columns of a batch are
// decoded on up to GOMAXPROCS goroutines, and the next batch is filled
// while the caller uses the current one (parquet_ahead.go); none outlives
// Close. This file adapts Options to the engine's Config, the engine's
// *parquet.Error to *ParseError (with the object's name), and rejected
// rows to Options.OnReject.

// maxParquetPreviewRejects caps the rejected-row warnings of a Parquet
// preview.
const maxParquetPreviewRejects = 20

// openParquet opens a Parquet object. obj.Size() must be known. The footer
// is read with one ranged request (two for a footer over 64 KiB), plus one
// for the 4-byte head magic; no data page is read before Next.
func openParquet(ctx context.Context, obj Object, opts Options) (Reader, error) {
	r, err := openParquetReader(ctx, obj, opts, false)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// previewParquet reads the footer and the first pages of obj: the result
// has the total row count, the schema with a reason per column and up to
// rows rows (DefaultPreviewRows if rows <= 0). Rows that do not convert are
// skipped and listed in Warnings (unless opts.OnReject decides otherwise).
func previewParquet(ctx context.Context, obj Object, opts Options, rows int) (*PreviewResult, error) {
	if rows <= 0 {
		rows = DefaultPreviewRows
	}
	var warnings []string
	var firstRejects []*ParseError
	rejects := 0
	user := opts.OnReject
	opts.OnReject = func(pe *ParseError) error {
		if user != nil {
			if err := user(pe); err != nil {
				return err
			}
		}
		rejects++
		if len(firstRejects) < 3 {
			firstRejects = append(firstRejects, pe)
		}
		if len(warnings) < maxParquetPreviewRejects {
			warnings = append(warnings, "rejected: "+pe.Error())
		}
		return nil
	}
	opts.BatchRows = rows
	r, err := openParquetReader(ctx, obj, opts, true)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	res := &PreviewResult{Info: r.Info(), Schema: r.Schema(), Rows: [][]any{}}
	b := schema.NewBatch(r.Schema(), min(rows, 1<<16))
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
	if len(res.Rows) == 0 && rejects > 0 {
		return nil, noRowParses(rejects, firstRejects)
	}
	res.Truncated = int64(len(res.Rows)) < res.RowCount
	res.Warnings = append(r.warnings(), warnings...)
	return res, nil
}

// parquetReader implements Reader over the Parquet engine.
type parquetReader struct {
	name string
	src  *objectReaderAt
	eng  *parquet.Reader
	info Info
	// lastErr is the engine's last error and lastPE its *ParseError.
	lastErr *parquet.Error
	lastPE  *ParseError
	// ahead, when set, fills the next batch while the caller uses the
	// current one (parquet_ahead.go); the engine is then only called on
	// its goroutine.
	ahead *parquetAhead
}

// openParquetReader does the work of openParquet and previewParquet.
func openParquetReader(ctx context.Context, obj Object, opts Options, preview bool) (*parquetReader, error) {
	name := obj.Name()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	size := obj.Size()
	if size < 0 {
		return nil, &ParseError{Object: name, Err: fmt.Errorf("%w: Parquet needs the object's size, and it is unknown", ErrUnsupported),
			Hint: "the source must report the object's size (HeadObject) for Parquet"}
	}
	r := &parquetReader{name: name, src: newObjectReaderAt(obj, size)}
	cfg := parquet.Config{Schema: opts.Schema, BatchRows: opts.BatchRows, Preview: preview, MaxColumns: opts.MaxColumns,
		RescueColumn: opts.RescueColumn}
	if !preview && runtime.GOMAXPROCS(0) > 1 {
		r.ahead = newParquetAhead(ctx, opts.OnReject)
		cfg.Batches = 2
	}
	if opts.OnReject != nil {
		cfg.OnReject = func(e *parquet.Error) error {
			if r.ahead != nil {
				return r.ahead.reject(r.parseError(e))
			}
			return opts.OnReject(r.parseError(e))
		}
	}
	r.src.setContext(ctx)
	eng, err := parquet.Open(ctx, r.src, size, cfg)
	if err != nil {
		r.src.close()
		if r.ahead != nil {
			r.ahead.close()
		}
		return nil, r.mapError(err)
	}
	r.eng = eng
	if r.ahead != nil {
		r.ahead.eng = eng
		r.src.setContext(r.ahead.ctx)
	}
	r.info = Info{Format: FormatParquet, Compression: CompressionNone, RowCount: eng.RowCount()}
	return r, nil
}

// Schema implements Reader.
func (r *parquetReader) Schema() *schema.Schema { return r.eng.Schema() }

// Info implements Reader.
func (r *parquetReader) Info() Info { return r.info }

// Next implements Reader. ctx governs the ranged reads Next issues, or,
// reading ahead, how long Next waits for the batch (see parquet_ahead.go).
func (r *parquetReader) Next(ctx context.Context, b *schema.Batch) error {
	if r.ahead != nil {
		return r.mapError(r.ahead.next(ctx, b))
	}
	r.src.setContext(ctx)
	return r.mapError(r.eng.Next(ctx, b))
}

// Close implements Reader. It does not close the Object (which has nothing
// to close).
func (r *parquetReader) Close() error {
	r.src.close() // first: a read-ahead in flight ends now, not when its GET does
	if r.ahead != nil {
		r.ahead.close()
	}
	return r.mapError(r.eng.Close())
}

// warnings are the engine's warnings, naming the object.
func (r *parquetReader) warnings() []string {
	var out []string
	for _, w := range r.eng.Warnings() {
		out = append(out, r.name+": "+w)
	}
	return out
}

// mapError turns the engine's *parquet.Error into a *ParseError naming the
// object; any other error (the object's own, the context's, or what
// Options.OnReject returned) is returned as it is.
func (r *parquetReader) mapError(err error) error {
	if e, ok := err.(*parquet.Error); ok {
		// The engine returns its sticky error again on every call: so
		// does the Reader, as the same *ParseError.
		if e != r.lastErr {
			r.lastErr, r.lastPE = e, r.parseError(e)
		}
		return r.lastPE
	}
	return err
}

func (r *parquetReader) parseError(e *parquet.Error) *ParseError {
	return &ParseError{Object: r.name, RowGroup: e.RowGroup, Row: e.Row, Column: e.Column,
		Value: e.Value, Err: e.Err, Hint: e.Hint}
}
