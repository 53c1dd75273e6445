package sink_test

import (
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func slicesSortFunc[S ~[]E, E any](s S, cmp func(a, b E) int) { slices.SortFunc(s, cmp) }

func parquetRowGroups(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return len(pf.RowGroups())
}

// permanent is the worker's decision on err: the one errors.As of the
// shared error contract.
func permanent(err error) bool {
	var c interface{ Permanent() bool }
	return errors.As(err, &c) && c.Permanent()
}
