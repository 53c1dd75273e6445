package parsers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/s3ingest/s3ingest/parsers/internal/parquet"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// maxPreviewRejects caps the rejected rows listed in a preview's warnings.
const maxPreviewRejects = 50

// Preview sniffs obj, infers its schema and returns its first rows (rows;
// 0 means DefaultPreviewRows). For CSV and JSON it reads only the first
// headBytes bytes of the object (0 means DefaultPreviewHeadBytes) with one
// ranged read; a compressed head is decompressed as far as it goes, and a
// last line cut by the limit is left out (with a warning). Rows that do not
// convert are listed in Warnings with their line and column instead of
// failing the preview; but when no row of the head converts and some were
// rejected, Preview fails with a *ParseError giving the first errors (a
// preview never calls a file in which nothing parses fine). Parquet objects
// are previewed from their footer and first row group.
func Preview(ctx context.Context, obj Object, opts Options, rows, headBytes int) (*PreviewResult, error) {
	if rows <= 0 {
		rows = DefaultPreviewRows
	}
	if headBytes <= 0 {
		headBytes = DefaultPreviewHeadBytes
	}
	opts = opts.withDefaults()
	if _, err := opts.rescueIndex(obj.Name()); err != nil {
		return nil, err
	}
	if opts.Format == FormatParquet {
		return previewParquet(ctx, obj, opts, rows)
	}
	if parquetByName(obj, opts) {
		res, err := previewParquet(ctx, obj, opts, rows)
		if !errors.Is(err, parquet.ErrNotParquet) {
			return res, err
		}
	}
	res := &PreviewResult{}
	userWarn := opts.OnWarning
	opts.OnWarning = func(m string) {
		res.Warnings = append(res.Warnings, m)
		if userWarn != nil {
			userWarn(m)
		}
	}
	rejects := 0
	var firstRejects []*ParseError
	opts.OnReject = func(pe *ParseError) error {
		rejects++
		if len(firstRejects) < 3 {
			firstRejects = append(firstRejects, pe)
		}
		switch {
		case rejects <= maxPreviewRejects:
			res.Warnings = append(res.Warnings, "rejected row: "+pe.Error())
		case rejects == maxPreviewRejects+1:
			res.Warnings = append(res.Warnings, fmt.Sprintf("more than %d rows rejected; not listing the others", maxPreviewRejects))
		}
		return nil
	}
	opts.BatchRows = rows

	rc, err := obj.Open(ctx, 0, int64(headBytes))
	if err != nil {
		return nil, err
	}
	s, err := newStream(ctx, obj.Name(), rc, opts, int64(headBytes))
	if err != nil {
		rc.Close()
		return nil, err
	}
	defer s.Close()
	s.size = obj.Size()
	format, err := s.sniffFormat(opts)
	if err != nil {
		return nil, err
	}
	if format == FormatParquet && s.comp == CompressionNone {
		s.Close()
		return previewParquet(ctx, obj, opts, rows)
	}
	rd, err := openStream(ctx, obj, s, opts)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	b := schema.NewBatch(rd.Schema(), rows)
	for b.Len() == 0 {
		err = rd.Next(ctx, b)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if b.Len() == 0 {
			continue
		}
	}
	if tr, ok := rd.(*reader); ok && tr.err != nil {
		var pe *ParseError
		if errors.As(tr.err, &pe) {
			res.Warnings = append(res.Warnings, "reading stops here: "+pe.Error())
		} else {
			return nil, tr.err
		}
	}
	if b.Len() == 0 && rejects > 0 {
		return nil, noRowParses(rejects, firstRejects)
	}
	res.Info = rd.Info()
	res.Schema = rd.Schema()
	res.Rows = make([][]any, b.Len())
	for i := range res.Rows {
		res.Rows[i] = b.Row(i)
	}
	res.Truncated = s.headTruncated()
	if res.Truncated && len(res.Rows) == 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the first %d bytes of the object hold no complete row (a %s block may be larger); preview more bytes", headBytes, s.comp))
	}
	return res, nil
}

// noRowParses is the error of a sample in which no row parses: the first
// rejected row's error, saying how many were rejected and listing the next
// ones (with their line and byte).
func noRowParses(rejects int, first []*ParseError) *ParseError {
	f := first[0]
	var more strings.Builder
	for i, pe := range first[1:] {
		if i == 0 {
			more.WriteString("; then")
		} else {
			more.WriteString(";")
		}
		switch {
		case pe.Line > 0 && pe.Byte > 0:
			fmt.Fprintf(&more, " line %d, byte %d", pe.Line, pe.Byte)
		case pe.Line > 0:
			fmt.Fprintf(&more, " line %d", pe.Line)
		case pe.RowGroup >= 0:
			fmt.Fprintf(&more, " row group %d, row %d", pe.RowGroup, pe.Row)
		}
		if pe.Column != "" {
			fmt.Fprintf(&more, ", column %q", pe.Column)
		}
		fmt.Fprintf(&more, ": %v", pe.Err)
	}
	return &ParseError{Object: f.Object, Line: f.Line, RowGroup: f.RowGroup, Row: f.Row, Column: f.Column, Byte: f.Byte, Value: f.Value,
		Err:  fmt.Errorf("no sampled row parses (%d rejected), the first: %w%s", rejects, f.Err, more.String()),
		Hint: f.Hint}
}
