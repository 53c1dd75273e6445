package parsers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// countingObject records the ranges opened.
type countingObject struct {
	Object
	opened []string
	read   int64
}

func (c *countingObject) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	c.opened = append(c.opened, fmt.Sprintf("%d+%d", off, n))
	rc, err := c.Object.Open(ctx, off, n)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{&countReader{rc, &c.read}, rc}, nil
}

type countReader struct {
	r io.Reader
	n *int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

func bigCSV(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("id,name,when\n")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "%d,name %d,2024-01-02T03:04:05Z\n", i, i)
	}
	return b.Bytes()
}

func TestPreviewReadsOnlyTheHead(t *testing.T) {
	data := bigCSV(200000) // ~7 MB
	for _, tc := range []struct {
		name string
		data []byte
		head int // zstd and bzip2 decompress whole blocks only
	}{{"plain", data, 4096}, {"gzip", compressGzip(t, data), 4096}, {"zstd", compressZstd(t, data), 64 << 10}, {"bzip2", compressBzip2(t, data), 512 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &countingObject{Object: BytesObject("big.csv", tc.data)}
			res, err := Preview(context.Background(), obj, Options{}, 10, tc.head)
			if err != nil {
				t.Fatal(err)
			}
			if len(obj.opened) != 1 || obj.opened[0] != fmt.Sprintf("0+%d", tc.head) || obj.read > int64(tc.head) {
				t.Fatalf("opened %v, read %d bytes", obj.opened, obj.read)
			}
			if len(res.Rows) != 10 || !res.Truncated || res.Schema.String() != "id int64?, name string?, when timestamp?" {
				t.Fatalf("rows %d truncated %v schema %s", len(res.Rows), res.Truncated, res.Schema)
			}
			if res.Rows[9][0] != int64(9) {
				t.Fatalf("row 9: %v", res.Rows[9])
			}
			if tc.name == "plain" && !strings.Contains(strings.Join(res.Warnings, "\n"), "last line of the head was cut") {
				t.Fatalf("warnings %q", res.Warnings)
			}
			if res.Schema.Fields[0].Reason == "" {
				t.Fatal("no reason")
			}
		})
	}
}

func TestPreviewPartialLineDropped(t *testing.T) {
	data := []byte("a,b\n1,2\n3,4\n5,6\n")
	// cut in the middle of "5,6"
	res, err := Preview(context.Background(), BytesObject("t.csv", data), Options{}, 0, 13)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 || !res.Truncated || len(res.Warnings) != 1 {
		t.Fatalf("rows %v truncated %v warnings %q", res.Rows, res.Truncated, res.Warnings)
	}
	// the whole object fits: not truncated, no warning
	res, err = Preview(context.Background(), BytesObject("t.csv", data), Options{}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 3 || res.Truncated || len(res.Warnings) != 0 || res.Schema.String() != "a int64, b int64" {
		t.Fatalf("rows %v truncated %v warnings %q schema %s", res.Rows, res.Truncated, res.Warnings, res.Schema)
	}
	// JSON array cut in an element
	res, err = Preview(context.Background(), BytesObject("t.json", []byte(`[{"a":1},{"a":2},{"a":3}]`)), Options{}, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 || res.JSONLayout != "array" || len(res.Warnings) != 1 {
		t.Fatalf("rows %v warnings %q", res.Rows, res.Warnings)
	}
}

func TestPreviewListsRejects(t *testing.T) {
	data := []byte("n,s\n1,a\n2,b\nx,c\n4,d\n")
	res, err := Preview(context.Background(), BytesObject("t.csv", data), Options{SampleRows: 2}, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 3 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], `line 4, column "n": value "x"`) {
		t.Fatalf("rows %v warnings %q", res.Rows, res.Warnings)
	}
}
