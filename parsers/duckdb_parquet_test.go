package parsers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// TestReadsDuckDBParquet reads a file DuckDB wrote with nulls (see
// testdata/duckdb/README.md): its definition levels end in a padded
// bit-packed block that declares more values than the page holds, which
// every reader ignores. Each value is checked against the query that made
// the file.
func TestReadsDuckDBParquet(t *testing.T) {
	const rows = 20000
	obj, err := parsers.FileObject("testdata/duckdb/nulls.parquet")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rd, err := parsers.Open(ctx, obj, parsers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	b := schema.NewBatch(rd.Schema(), 4096)
	i := int64(0)
	for {
		err := rd.Next(ctx, b)
		for r := 0; r < b.Len(); r, i = r+1, i+1 {
			if got := b.Cols[0].Ints[r]; got != i {
				t.Fatalf("row %d: id %d", i, got)
			}
			ratio := &b.Cols[1]
			if null := ratio.Nulls[r]; null != (i%13 == 0) {
				t.Fatalf("row %d: ratio null %v", i, null)
			} else if want := fmt.Sprintf("%d.%d", i/2, i%2*5); !null && ratio.Text(r) != want {
				t.Fatalf("row %d: ratio %q, want %q (DECIMAL(21,1) as exact text)", i, ratio.Text(r), want)
			}
			country := &b.Cols[2]
			if null := country.Nulls[r]; null != (i%17 == 0) {
				t.Fatalf("row %d: country null %v", i, null)
			} else if want := fmt.Sprintf("c%d", i%50); !null && country.Text(r) != want {
				t.Fatalf("row %d: country %q, want %q", i, country.Text(r), want)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if i != rows {
		t.Fatalf("%d rows, want %d", i, rows)
	}
}
