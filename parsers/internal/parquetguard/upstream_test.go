package parquetguard

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	parquetgo "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// TestParquetGoStillTrustsSizes pins the parquet-go behaviours this package
// defends against (see the package doc), on the unguarded library and with
// allocations small enough to be safe: parquet-go allocates what a thrift
// list header or a page header announces before it reads the bytes that
// should back it.
//
// If this test fails after a parquet-go upgrade, upstream now bounds these
// allocations by the bytes really there: check the other behaviours listed
// in the package doc the same way, and the guard (or the part of it that
// became useless) can be deleted.
func TestParquetGoStillTrustsSizes(t *testing.T) {
	t.Run("thrift list header", func(t *testing.T) {
		// FileMetaData{2: list<struct SchemaElement> of n elements}, with
		// no element there.
		const n = 1 << 17
		footer := []byte{0x29, 0xfc}
		footer = binary.AppendUvarint(footer, n)
		footer = append(footer, 0x00)
		want := uint64(n * unsafe.Sizeof(format.SchemaElement{}))

		var md format.FileMetaData
		got, err := allocated(func() error {
			return thrift.NewDecoder(new(thrift.CompactProtocol).NewReaderFromBytes(footer)).Decode(&md)
		})
		if err == nil {
			t.Fatalf("parquet-go decoded a list of %d elements from %d bytes", n, len(footer))
		}
		t.Logf("parquet-go allocated %d bytes for a %d-byte footer (%v)", got, len(footer), err)
		if got < want/2 {
			t.Fatalf("parquet-go %s no longer allocates a list from its header (%d bytes allocated, %d announced): "+
				"CheckFooter may no longer be needed", version, got, want)
		}
		if err := CheckFooter(footer); err == nil {
			t.Fatal("CheckFooter accepted the footer")
		}
	})

	t.Run("page header", func(t *testing.T) {
		// A valid file whose first page header announces 64 MiB: the
		// column chunk has a few hundred bytes.
		const announced = 64 << 20
		data, cc := hostilePageFile(t, announced)
		f, err := parquetgo.OpenFile(bytes.NewReader(data), int64(len(data)), parquetgo.SkipPageIndex(true), parquetgo.SkipBloomFilters(true))
		if err != nil {
			t.Fatal(err)
		}
		pages := f.RowGroups()[0].ColumnChunks()[0].Pages()
		defer pages.Close()
		got, err := allocated(func() error {
			_, err := pages.ReadPage()
			return err
		})
		if err == nil {
			t.Fatal("parquet-go read a page of 64 MiB from a chunk of a few hundred bytes")
		}
		t.Logf("parquet-go allocated %d bytes for a page announcing %d (%v)", got, announced, err)
		if got < announced {
			t.Fatalf("parquet-go %s no longer allocates compressed_page_size before reading the page (%d bytes allocated, %d announced): "+
				"the page header checks of Guard may no longer be needed", version, got, announced)
		}

		// The guard refuses the page before parquet-go sees it.
		g := New(bytes.NewReader(data), Column{Kind: format.Int64}, cc)
		start, end := ChunkRange(cc)
		if _, err := g.ReadAt(make([]byte, end-start), start); err == nil || g.Err() == nil {
			t.Fatalf("the guard let the page through: %v", err)
		}
	})
}

// version is the parquet-go version these behaviours were checked on; the
// package doc names it too.
const version = "v0.32.0"

// TestCheckedVersion fails when go.mod moves to another parquet-go: check
// the behaviours of the package doc on it (TestParquetGoStillTrustsSizes
// and the corpus and fuzz tests of package parsers), then update version
// and the package doc.
func TestCheckedVersion(t *testing.T) {
	mod, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/parquet-go/parquet-go" {
			if f[1] != version {
				t.Fatalf("go.mod has parquet-go %s; the guard was checked on %s (see the package doc)", f[1], version)
			}
			return
		}
	}
	t.Fatal("parquet-go is not in go.mod")
}

// allocated runs f and returns the bytes allocated meanwhile.
func allocated(f func() error) (uint64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

// hostilePageFile writes a small one-column file and rewrites the header of
// its first page to announce compressed and uncompressed sizes of size
// bytes. It returns the file and its first column chunk's metadata.
func hostilePageFile(t *testing.T, size int32) ([]byte, *format.ColumnChunk) {
	t.Helper()
	type row struct {
		V int64 `parquet:"v"`
	}
	rows := make([]row, 50)
	for i := range rows {
		rows[i].V = int64(i)
	}
	var buf bytes.Buffer
	w := parquetgo.NewGenericWriter[row](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	f, err := parquetgo.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	cc := f.Metadata().RowGroups[0].Columns[0]
	off, _ := ChunkRange(&cc)

	var h format.PageHeader
	r := new(thrift.CompactProtocol).NewReaderFromBytes(data[off:])
	if err := thrift.NewDecoder(r).Decode(&h); err != nil {
		t.Fatal(err)
	}
	used := r.BytesRead()
	if h.Type != format.DataPage && h.Type != format.DataPageV2 {
		t.Fatalf("the first page is a %v", h.Type)
	}
	h.CompressedPageSize, h.UncompressedPageSize, h.CRC = size, size, 0
	hdr, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		t.Fatal(err)
	}
	out := append(append(bytes.Clone(data[:off]), hdr...), data[off+int64(used):]...)
	return out, &cc
}
