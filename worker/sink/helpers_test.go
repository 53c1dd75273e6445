package sink_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/worker/sink"
)

func slicesSortFunc[S ~[]E, E any](s S, cmp func(a, b E) int) { slices.SortFunc(s, cmp) }

// openParquetFile opens a Parquet file the sink wrote; it stays open until
// the test ends.
func openParquetFile(t testing.TB, path string) *parquet.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return pf
}

func parquetRowGroups(t *testing.T, path string) int {
	t.Helper()
	pf := openParquetFile(t, path)
	return len(pf.RowGroups())
}

// permanent is the worker's decision on err: the one errors.As of the
// shared error contract.
func permanent(err error) bool {
	var c interface{ Permanent() bool }
	return errors.As(err, &c) && c.Permanent()
}

// seen reports whether s's ledger of ds has obj's very version.
func seen(ctx context.Context, s sink.Sink, ds sink.Dataset, obj sink.ObjectRef) (bool, error) {
	l, err := s.Lookup(ctx, ds, obj)
	return l.Loaded, err
}
