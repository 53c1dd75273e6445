package parsers

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	dbzip2 "github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func compressGzip(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func compressZstd(tb testing.TB, b []byte) []byte {
	tb.Helper()
	w, err := zstd.NewWriter(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

func compressBzip2(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := dbzip2.NewWriter(&buf, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// normalizeRow replaces JSON values by "json:"+text, so rows compare with
// reflect.DeepEqual against expectations written as strings.
func normalizeRow(r []any) []any {
	for i, v := range r {
		if j, ok := v.(json.RawMessage); ok {
			r[i] = "json:" + string(j)
		}
	}
	return r
}

// nByteReader returns at most n bytes per Read.
type nByteReader struct {
	r io.Reader
	n int
}

func (n *nByteReader) Read(p []byte) (int, error) {
	if len(p) > n.n {
		p = p[:n.n]
	}
	return n.r.Read(p)
}
