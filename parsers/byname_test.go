package parsers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// TestParquetByName: an object named .parquet that holds CSV fails, saying
// what it holds (the name is a hint the content must not silently
// contradict), and is read as CSV when the format is set; a real Parquet
// file named .parquet is never streamed from offset 0.
func TestParquetByName(t *testing.T) {
	obj := &countingObject{Object: BytesObject("s3://b/misnamed.parquet", []byte("a,b\n1,x\n2,y\n"))}
	_, err := Open(context.Background(), obj, Options{})
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `invalid Parquet: no "PAR1" magic: starts with "a,b": looks like CSV`) {
		t.Fatalf("err = %v, want an invalid Parquet error", err)
	}
	r, err := Open(context.Background(), obj, Options{Format: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Info().Format != FormatCSV {
		t.Fatalf("format %s, want csv", r.Info().Format)
	}
	b := schema.NewBatch(r.Schema(), 10)
	if err := r.Next(context.Background(), b); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if b.Len() != 2 {
		t.Fatalf("%d rows", b.Len())
	}

	pq := &countingObject{Object: BytesObject("s3://b/real.parquet", pqWriteFile(t, []struct{ ID int64 }{{1}, {2}, {3}, {4}}))}
	res, err := Preview(context.Background(), pq, Options{}, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatParquet || len(res.Rows) != 3 {
		t.Fatalf("preview %s with %d rows", res.Format, len(res.Rows))
	}
	for _, o := range pq.opened {
		if strings.HasSuffix(o, "+-1") || o == fmt.Sprintf("0+%d", DefaultPreviewHeadBytes) {
			t.Fatalf("a Parquet preview streamed the object (%v)", pq.opened)
		}
	}
}
