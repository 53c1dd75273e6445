package parsers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

func TestSniffing(t *testing.T) {
	csv := []byte("a,b\n1,2\n")
	js := []byte(`{"a":1}` + "\n")
	for _, tc := range []struct {
		name   string
		obj    string
		data   []byte
		opts   Options
		format Format
		comp   Compression
	}{
		{"csv", "x", csv, Options{}, FormatCSV, CompressionNone},
		{"json-object", "x", js, Options{}, FormatJSON, CompressionNone},
		{"json-array-bom-space", "x", []byte("\xef\xbb\xbf \n [{\"a\":1}]"), Options{}, FormatJSON, CompressionNone},
		{"gzip-magic-no-ext", "x", compressGzip(t, csv), Options{}, FormatCSV, CompressionGzip},
		{"zstd-magic", "x.bin", compressZstd(t, js), Options{}, FormatJSON, CompressionZstd},
		{"bzip2-magic", "x.csv.bz2", compressBzip2(t, csv), Options{}, FormatCSV, CompressionBzip2},
		{"gz-ext-not-gzip", "x.csv.gz", csv, Options{}, FormatCSV, CompressionNone},
		{"empty-json-ext", "x.ndjson.gz", compressGzip(t, nil), Options{}, FormatJSON, CompressionGzip},
		{"empty-csv", "x", nil, Options{}, FormatCSV, CompressionNone},
		{"forced-csv", "x.json", js, Options{Format: FormatCSV}, FormatCSV, CompressionNone},
		{"forced-none", "x", compressGzip(t, csv), Options{Compression: CompressionNone}, FormatCSV, CompressionNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(context.Background(), BytesObject(tc.obj, tc.data), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Info().Format != tc.format || r.Info().Compression != tc.comp {
				t.Fatalf("info %+v, want %s/%s", r.Info(), tc.format, tc.comp)
			}
		})
	}
}

func TestParquetInsideGzip(t *testing.T) {
	_, err := Open(context.Background(), BytesObject("x.parquet.gz", compressGzip(t, []byte("PAR1xxxxPAR1"))), Options{})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %v", err)
	}
}

func TestCorruptCompression(t *testing.T) {
	gz := compressGzip(t, bytes.Repeat([]byte("a,b\n1,2\n"), 10000))
	gz[len(gz)/2] ^= 0xff
	gz[len(gz)/2+1] ^= 0xff
	r, err := Open(context.Background(), BytesObject("x.gz", gz), Options{})
	if err == nil {
		b := schema.NewBatch(r.Schema(), 100)
		for err == nil {
			err = r.Next(context.Background(), b)
		}
	}
	var pe *ParseError
	if !errors.As(err, &pe) || !(errors.Is(err, ErrCorrupt)) || !strings.Contains(pe.Error(), "x.gz") {
		t.Fatalf("got %v", err)
	}
}

func TestGzipBombMidStream(t *testing.T) {
	gz := compressGzip(t, bytes.Repeat([]byte("1,2\n"), 1<<20))
	r, err := Open(context.Background(), BytesObject("bomb.gz", gz), Options{MaxDecompressedBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	b := schema.NewBatch(r.Schema(), 0)
	rows := 0
	for err == nil {
		err = r.Next(context.Background(), b)
		rows += b.Len()
	}
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "max_decompressed_bytes") || rows == 0 || rows > 1<<18 {
		t.Fatalf("rows %d, err %v", rows, err)
	}
}

// failingObject's stream fails after some bytes: the error is not a
// ParseError, so callers can retry.
type failingObject struct{ data []byte }

var errNetwork = errors.New("connection reset")

func (f failingObject) Name() string { return "s3://b/k.csv.gz" }
func (f failingObject) Size() int64  { return int64(len(f.data)) }
func (f failingObject) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	return io.NopCloser(io.MultiReader(bytes.NewReader(f.data[:len(f.data)/2]), errReader{})), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errNetwork }

func TestStreamErrorsPassThrough(t *testing.T) {
	for _, data := range [][]byte{
		bytes.Repeat([]byte("a,b\n1,2\n"), 100000),
		compressGzip(t, bytes.Repeat([]byte("a,b\n1,2\n"), 100000)),
	} {
		r, err := Open(context.Background(), failingObject{data}, Options{})
		if err == nil {
			b := schema.NewBatch(r.Schema(), 0)
			for err == nil {
				err = r.Next(context.Background(), b)
			}
		}
		var pe *ParseError
		if !errors.Is(err, errNetwork) || errors.As(err, &pe) {
			t.Fatalf("got %v, want the stream's error", err)
		}
	}
}

func TestFileObject(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.csv")
	if err := os.WriteFile(p, []byte("a,b\n1,2\n3,4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	obj, err := FileObject(p)
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size() != 12 || obj.Name() != p {
		t.Fatalf("size %d name %s", obj.Size(), obj.Name())
	}
	rc, err := obj.Open(context.Background(), 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "1,2" {
		t.Fatalf("range read %q", got)
	}
	buf := make([]byte, 3)
	if _, err := obj.(io.ReaderAt).ReadAt(buf, 8); err != nil || string(buf) != "3,4" {
		t.Fatalf("ReadAt %q %v", buf, err)
	}
	if n := readAll(t, obj, Options{}); n != 2 {
		t.Fatalf("%d rows", n)
	}
	if _, err := FileObject(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file opened")
	}
	if _, err := FileObject(dir); err == nil {
		t.Fatal("directory opened")
	}
}

func TestSniffParquet(t *testing.T) {
	type row struct {
		ID   int64  `parquet:"id"`
		Name string `parquet:"name"`
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []row{{1, "a"}, {2, "b"}}); err != nil {
		t.Fatal(err)
	}
	obj := BytesObject("no-extension", buf.Bytes())
	r, err := Open(context.Background(), obj, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Info().Format != FormatParquet {
		t.Fatalf("info %+v", r.Info())
	}
	if n := readAll(t, obj, Options{}); n != 2 {
		t.Fatalf("%d rows", n)
	}
	res, err := Preview(context.Background(), obj, Options{}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatParquet || len(res.Rows) != 1 {
		t.Fatalf("preview %+v", res)
	}
}
