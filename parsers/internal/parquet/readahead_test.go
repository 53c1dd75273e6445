package parquet

import (
	"testing"

	"github.com/parquet-go/parquet-go/format"
)

// TestWindow checks which row groups a read-ahead window spans: those that
// follow each other in the file (gaps up to maxWindowGap) within the
// window's bytes, fewer for a preview once it has its rows, none for a row
// group larger than the window.
func TestWindow(t *testing.T) {
	// rg builds a row group of rows rows whose two column chunks are
	// [start, mid) and [mid, end).
	rg := func(rows, start, end int64) format.RowGroup {
		mid := (start + end) / 2
		return format.RowGroup{NumRows: rows, Columns: []format.ColumnChunk{
			{MetaData: format.ColumnMetaData{DataPageOffset: start, TotalCompressedSize: mid - start}},
			{MetaData: format.ColumnMetaData{DataPageOffset: mid, TotalCompressedSize: end - mid}},
		}}
	}
	const w = 1000
	for _, tc := range []struct {
		name       string
		groups     []format.RowGroup
		preview    int // Config.BatchRows of a preview; 0: not a preview
		i          int
		start, end int64
		ok         bool
	}{
		{"consecutive", []format.RowGroup{rg(1, 4, 100), rg(1, 100, 200), rg(1, 200, 300)}, 0, 0, 4, 300, true},
		{"from the second", []format.RowGroup{rg(1, 4, 100), rg(1, 100, 200), rg(1, 200, 300)}, 0, 1, 100, 300, true},
		{"the window's bytes", []format.RowGroup{rg(1, 4, 500), rg(1, 500, 1004), rg(1, 1004, 1100)}, 0, 0, 4, 1004, true},
		{"over the window", []format.RowGroup{rg(1, 4, 1005), rg(1, 1005, 1100)}, 0, 0, 0, 0, false},
		{"a small gap", []format.RowGroup{rg(1, 4, 100), rg(1, 150, 200)}, 0, 0, 4, 200, true},
		{"a large gap", []format.RowGroup{rg(1, 4, 100), rg(1, 100+maxWindowGap+1, 100+maxWindowGap+50)}, 0, 0, 4, 100, true},
		{"out of order", []format.RowGroup{rg(1, 200, 300), rg(1, 4, 100)}, 0, 0, 200, 300, true},
		{"overlapping", []format.RowGroup{rg(1, 4, 100), rg(1, 50, 150)}, 0, 0, 4, 100, true},
		{"no column chunks", []format.RowGroup{rg(1, 4, 100), {}, rg(1, 100, 200)}, 0, 0, 4, 200, true},
		{"a preview with its rows", []format.RowGroup{rg(5, 4, 100), rg(5, 100, 200), rg(5, 200, 300)}, 10, 0, 4, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Reader{md: &format.FileMetaData{RowGroups: tc.groups}, prefetchMax: w}
			if tc.preview > 0 {
				r.cfg.Preview, r.cfg.BatchRows = true, tc.preview
			}
			start, end, ok := r.window(tc.i)
			if start != tc.start || end != tc.end || ok != tc.ok {
				t.Fatalf("window(%d) = [%d, %d) %v, want [%d, %d) %v", tc.i, start, end, ok, tc.start, tc.end, tc.ok)
			}
		})
	}
}
