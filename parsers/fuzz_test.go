package parsers_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/parserstest"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// checkRead reads every batch of an object and checks the invariants that
// hold for any input: no panic, every row has a value per schema column,
// lines increase, strings are valid UTF-8, and errors are ParseErrors.
func checkRead(t *testing.T, obj parsers.Object, opts parsers.Options) {
	t.Helper()
	ctx := context.Background()
	rejects := 0
	opts.OnReject = func(pe *parsers.ParseError) error {
		if pe.Object == "" || pe.Err == nil {
			t.Fatalf("reject without object or cause: %#v", pe)
		}
		rejects++
		if rejects > 3 && rejects%2 == 0 {
			return pe // exercise OnReject returning an error
		}
		return nil
	}
	r, err := parsers.Open(ctx, obj, opts)
	if err != nil {
		checkFuzzErr(t, err)
		return
	}
	defer r.Close()
	sch := r.Schema()
	for _, f := range sch.Fields {
		if f.Name == "" {
			t.Fatalf("empty column name in %s", sch)
		}
	}
	b := schema.NewBatch(sch, 4)
	last := int64(0)
	for {
		err := r.Next(ctx, b)
		if err == io.EOF {
			return
		}
		if err != nil {
			checkFuzzErr(t, err)
			return
		}
		if len(b.Cols) != len(sch.Fields) {
			t.Fatalf("%d columns, schema has %d", len(b.Cols), len(sch.Fields))
		}
		for i := 0; i < b.Len(); i++ {
			if b.Lines[i] < last || b.Lines[i] < 1 {
				t.Fatalf("line %d after %d", b.Lines[i], last)
			}
			last = b.Lines[i]
			row := b.Row(i)
			if len(row) != len(sch.Fields) {
				t.Fatalf("row of %d values, schema has %d", len(row), len(sch.Fields))
			}
			for c := range b.Cols {
				v := &b.Cols[c]
				if v.Len() != b.Len() {
					t.Fatalf("column %d has %d values, batch %d rows", c, v.Len(), b.Len())
				}
				if v.Type == schema.String && !v.Nulls[i] && !utf8.Valid(v.BytesAt(i)) {
					t.Fatalf("invalid UTF-8 in column %s", sch.Fields[c].Name)
				}
			}
		}
	}
}

func checkFuzzErr(t *testing.T, err error) {
	t.Helper()
	var pe *parsers.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error is not a ParseError: %v", err)
	}
	if pe.Object == "" || pe.Err == nil {
		t.Fatalf("incomplete parsers.ParseError %#v", pe)
	}
	_ = pe.Error()
}

func fuzzSeeds(f *testing.F, cases []parserstest.Case) {
	for _, c := range cases {
		if c.Text {
			f.Add(c.Data(f), uint8(0))
		}
	}
}

func FuzzCSV(f *testing.F) {
	fuzzSeeds(f, csvCases)
	f.Add([]byte("a;b\n\"x\"\"y\";2\r\n"), uint8(1))
	f.Add([]byte("\xff\xfea\x00,\x00b\x00\n\x001\x00,\x002\x00"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		opts := parsers.Options{Format: parsers.FormatCSV, MaxLineBytes: 256, SampleRows: int(mode%5) + 1, BatchRows: int(mode%3) + 1}
		if mode&8 != 0 {
			opts.CSV.Ragged = parsers.RaggedPad
		}
		if mode&16 != 0 {
			opts.CSV.Header = parsers.HeaderPresent
		}
		checkRead(t, parsers.BytesObject("fuzz.csv", data), opts)
		checkRead(t, parserstest.Micro(parsers.BytesObject("fuzz.csv", data), 3), opts)
	})
}

func FuzzJSON(f *testing.F) {
	fuzzSeeds(f, jsonCases)
	f.Add([]byte(`[{"a":{"b":[1,{"c":2}]},"d":"\ud800x"}, 1, {"a":null}]`), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		opts := parsers.Options{Format: parsers.FormatJSON, MaxLineBytes: 256, SampleRows: int(mode%5) + 1, BatchRows: int(mode%3) + 1,
			JSON: parsers.JSONOptions{MaxDepth: int(mode>>4)%4 - 1}}
		checkRead(t, parsers.BytesObject("fuzz.json", data), opts)
		checkRead(t, parserstest.Micro(parsers.BytesObject("fuzz.json", data), 2), opts)
	})
}

func FuzzSniff(f *testing.F) {
	for _, c := range append(csvCases, jsonCases...) {
		if c.Text {
			d := c.Data(f)
			f.Add(d)
			f.Add(parserstest.Gzip(f, d))
		}
	}
	f.Add([]byte("PAR1"))
	f.Add([]byte("BZh9"))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4 && string(data[:4]) == "PAR1" {
			return // the Parquet reader has its own fuzzing
		}
		obj := parsers.BytesObject("fuzz", data)
		checkRead(t, obj, parsers.Options{MaxDecompressedBytes: 1 << 20})
		res, err := parsers.Preview(context.Background(), obj, parsers.Options{MaxDecompressedBytes: 1 << 20}, 5, len(data)/2+1)
		if err != nil {
			checkFuzzErr(t, err)
			return
		}
		for _, row := range res.Rows {
			if len(row) != len(res.Schema.Fields) {
				t.Fatalf("preview row of %d values, schema has %d", len(row), len(res.Schema.Fields))
			}
		}
	})
}

// FuzzCompression feeds arbitrary bytes to the decompressors (sniffed, or
// forced by mode): whatever they are, reading ends with rows or a
// ParseError, never a panic, a hang or an allocation beyond the limits
// (MaxDecompressedBytes, MaxZstdWindow). Seeds are the conformance cases
// compressed with each codec, multi-member gzip, cut streams and zstd
// frames declaring huge windows.
//
//	go test -run='^$' -fuzz='^FuzzCompression$' -fuzztime=60s ./parsers/
func FuzzCompression(f *testing.F) {
	for _, c := range append(csvCases, jsonCases...) {
		if !c.Text {
			continue
		}
		d := c.Data(f)
		for i, z := range [][]byte{parserstest.Gzip(f, d), parserstest.Zstd(f, d), parserstest.Bzip2(f, d), parserstest.Gzip(f, d, d)} {
			f.Add(z, uint8(0))
			f.Add(z[:len(z)*2/3], uint8(i+1))
		}
	}
	// zstd frames declaring a 512 MiB window, and a single segment of 512 MiB
	f.Add([]byte("\x28\xb5\x2f\xfd\x00\x98\x21\x00\x00a,b\n"), uint8(0))
	f.Add([]byte("\x28\xb5\x2f\xfd\xe0\x00\x00\x00\x20\x00\x00\x00\x00\x21\x00\x00a,b\n"), uint8(2))
	f.Add([]byte("BZh91AY&SY"), uint8(3))
	f.Add([]byte{0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff}, uint8(1)) // gzip with a 64 KiB extra field, cut
	comps := []parsers.Compression{parsers.CompressionAuto, parsers.CompressionGzip, parsers.CompressionZstd, parsers.CompressionBzip2}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		opts := parsers.Options{Compression: comps[int(mode)%len(comps)], MaxDecompressedBytes: 1 << 20, MaxLineBytes: 4096, SampleRows: 10}
		obj := parsers.BytesObject("fuzz", data)
		checkRead(t, obj, opts)
		checkRead(t, parserstest.Micro(obj, 3), opts)
		if _, err := parsers.Preview(context.Background(), obj, opts, 5, len(data)/2+1); err != nil {
			checkFuzzErr(t, err)
		}
	})
}
