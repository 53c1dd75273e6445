package parquetguard

import (
	"encoding/binary"
	"strings"
	"testing"
)

// rleRun appends an RLE run of count repeats of a 1-bit value.
func rleRun(b []byte, count uint64) []byte {
	b = binary.AppendUvarint(b, count<<1)
	return append(b, 1)
}

// bitPackedRun appends a bit-packed run of groups groups of eight 1-bit
// values.
func bitPackedRun(b []byte, groups uint64) []byte {
	b = binary.AppendUvarint(b, groups<<1|1)
	return append(b, make([]byte, groups)...)
}

func TestCheckRLE(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		max     int64
		wantErr string
	}{
		{"exact", rleRun(nil, 100), 100, ""},
		{"bit-packed padding of the last group", bitPackedRun(nil, 13), 100, ""},
		// DuckDB pads a page's last bit-packed run to a whole block of
		// 256 values (testdata/duckdb in parsers).
		{"last bit-packed run padded past the page", bitPackedRun(rleRun(nil, 19900), 32), 20000, ""},
		{"RLE run past the page", rleRun(nil, 200), 100, "more than the page's 100 values"},
		{"a run after the page's values", rleRun(bitPackedRun(nil, 32), 5), 100, "more than the page's 100 values"},
		{"bit-packed run padded past a block", bitPackedRun(nil, 46), 100, "more than the page's 100 values"},
		// Bit width 0 takes no data bytes: the declared count alone must
		// be bounded (parquet-go sizes its output by it).
		{"huge bit-packed run of width 0", binary.AppendUvarint(nil, (1<<31-1)<<1|1), 1, "more than the page's 1 values"},
		{"bit-packed run past the data", append(binary.AppendUvarint(nil, 40<<1|1), 0, 0), 1000, "an RLE bit-packed run of 40 groups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			width := 1
			if strings.Contains(tt.name, "width 0") {
				width = 0
			}
			err := checkRLE(tt.data, width, tt.max)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkRLE: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("checkRLE: %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}
