package parsers

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/internal/parquetguard"
)

// TestFooterColumnsMatchesParquetGo: the column count the MaxColumns check
// reads from a footer's bytes is the number of leaf columns parquet-go
// finds, for every file of the corpus it opens (and for the hand-written
// wide footers of the hostile tests).
func TestFooterColumnsMatchesParquetGo(t *testing.T) {
	dir := filepath.Join(pqCorpusDir, "data")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	files := map[string][]byte{"wide-3": pqWideFile(3), "wide-20": pqWideFile(20)}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".parquet") {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = b
		}
	}
	for name, b := range files {
		f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		if err != nil || len(b) < 12 || string(b[len(b)-4:]) != "PAR1" {
			continue // unreadable or encrypted: covered by the corpus test
		}
		n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
		got, err := parquetguard.FooterColumns(b[len(b)-8-n : len(b)-8])
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want := len(f.Schema().Columns()); got != want {
			t.Errorf("%s: FooterColumns = %d, parquet-go has %d leaf columns", name, got, want)
		}
		checked++
	}
	t.Logf("%d files checked", checked)
	if checked < 40 {
		t.Fatalf("only %d files checked", checked)
	}
}
