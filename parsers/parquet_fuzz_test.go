package parsers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// FuzzParquet feeds arbitrary bytes to the Parquet reader: whatever they
// are, the preview and the read end with rows or a ParseError, never a
// panic, a hang or an unbounded allocation. Seeds are small files written
// with every codec, page version, dictionaries, nulls and nested fields, the
// corpus's bad_data files and its data files under 16 KiB.
//
//	go test -run='^$' -fuzz=FuzzParquet -fuzztime=60s ./parsers/
func FuzzParquet(f *testing.F) {
	type nested struct {
		ID int64            `parquet:"id"`
		L  []int32          `parquet:"l,list"`
		M  map[string]int64 `parquet:"m"`
		S  struct {
			A *string `parquet:"a,optional"`
		} `parquet:"s"`
		R []string `parquet:"r"`
	}
	codecs := []compress.Codec{&parquet.Uncompressed, &parquet.Snappy, &parquet.Gzip, &parquet.Zstd, &parquet.Lz4Raw, &parquet.Brotli}
	for i, c := range codecs {
		f.Add(pqWriteFile(f, pqConfRows(6), parquet.Compression(c), parquet.MaxRowsPerRowGroup(4), parquet.DataPageVersion(1+i%2)))
	}
	f.Add(pqWriteFile(f, pqBenchRows(40), parquet.PageBufferSize(256), parquet.Compression(&parquet.Snappy)))
	a := "x"
	f.Add(pqWriteFile(f, []nested{{ID: 1, L: []int32{1, 2}, M: map[string]int64{"k": 1}, R: []string{"p"}}, {ID: 2}, {ID: 3, S: struct {
		A *string `parquet:"a,optional"`
	}{&a}}}, parquet.DataPageVersion(1)))
	// the corpus: every bad_data file, and the data files under 16 KiB
	for _, sub := range []string{"bad_data", "data"} {
		dir := filepath.Join(pqCorpusDir, sub)
		entries, err := os.ReadDir(dir)
		if err != nil {
			f.Fatalf("the parquet-testing corpus is missing: %v", err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".parquet") {
				continue
			}
			if info, err := e.Info(); err != nil || (sub == "data" && info.Size() > 16<<10) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("PAR1"))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))

	f.Fuzz(func(t *testing.T, data []byte) {
		pqFuzzRead(t, newPQRangeObject("fuzz.parquet", data))
		pqFuzzRead(t, pqAtObject{newPQRangeObject("fuzz.parquet", data)})
	})
}

// pqFuzzRead previews and reads obj, checking the invariants any input
// keeps.
func pqFuzzRead(t *testing.T, obj Object) {
	ctx := context.Background()
	if res, err := previewParquet(ctx, obj, Options{}, 3); err != nil {
		pqFuzzErr(t, err)
	} else if len(res.Rows) > 3 || int64(len(res.Rows)) > res.RowCount {
		t.Fatalf("preview: %d rows of %d", len(res.Rows), res.RowCount)
	}
	rejects := 0
	r, err := openParquet(ctx, obj, Options{BatchRows: 5, OnReject: func(pe *ParseError) error {
		if pe.Object == "" || pe.Err == nil || !errors.Is(pe, ErrType) {
			t.Fatalf("bad reject %#v", pe)
		}
		rejects++
		if rejects > 3 {
			return pe
		}
		return nil
	}})
	if err != nil {
		pqFuzzErr(t, err)
		return
	}
	defer r.Close()
	sch := r.Schema()
	b := schema.NewBatch(sch, 5)
	var total int64
	last := int64(-1)
	for {
		err := r.Next(ctx, b)
		if err == io.EOF {
			break
		}
		if err != nil {
			pqFuzzErr(t, err)
			break
		}
		if b.Len() == 0 || b.Len() > 5 {
			t.Fatalf("batch of %d rows", b.Len())
		}
		for i := range b.Len() {
			if b.Lines[i] <= last {
				t.Fatalf("row %d after %d", b.Lines[i], last)
			}
			last = b.Lines[i]
			for c := range b.Cols {
				v := &b.Cols[c]
				if v.Len() != b.Len() {
					t.Fatalf("column %d has %d values for %d rows", c, v.Len(), b.Len())
				}
				if v.Nulls[i] {
					if !sch.Fields[c].Nullable {
						t.Fatalf("null in column %s, which is not nullable", sch.Fields[c].Name)
					}
					continue
				}
				switch v.Type {
				case schema.String:
					if !utf8.Valid(v.BytesAt(i)) {
						t.Fatalf("invalid UTF-8 in column %s", sch.Fields[c].Name)
					}
				case schema.JSON:
					if !json.Valid(v.BytesAt(i)) {
						t.Fatalf("invalid JSON in column %s: %q", sch.Fields[c].Name, v.BytesAt(i))
					}
				}
			}
		}
		total += int64(b.Len())
	}
	if total > r.Info().RowCount {
		t.Fatalf("read %d rows of %d", total, r.Info().RowCount)
	}
}

func pqFuzzErr(t *testing.T, err error) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error is not a ParseError: %v", err)
	}
	if pe.Object == "" || pe.Err == nil {
		t.Fatalf("incomplete ParseError %#v", pe)
	}
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrType) {
		t.Fatalf("ParseError without a sentinel cause: %v", err)
	}
	_ = pe.Error()
}
