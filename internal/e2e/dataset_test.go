package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// srcObj is one generated source object: rows with ids first..first+rows-1.
type srcObj struct {
	Key   string
	First int64
	Rows  int64
	Size  int64
}

// objectIDBase spaces the ids of objects apart: object k has ids
// k*objectIDBase + 0..rows-1, so every id names its object.
const objectIDBase = 10_000_000

// csvObject returns object k's CSV with n rows (deterministic).
func csvObject(k int, n int64) []byte {
	var b bytes.Buffer
	b.Grow(int(n) * 34)
	b.WriteString("id,name,amount\n")
	for i := int64(0); i < n; i++ {
		id := int64(k)*objectIDBase + i
		fmt.Fprintf(&b, "%d,item-%d,%d.%02d\n", id, id, id%100000, id%100)
	}
	return b.Bytes()
}

// putObjects writes objects prefix<k>.csv for k in 0..len(rows)-1 with
// rows[k] rows each, and returns them.
func putObjects(t testing.TB, s3 *testenv.S3Server, bucket, prefix string, rows []int64) []srcObj {
	t.Helper()
	out := make([]srcObj, len(rows))
	for k, n := range rows {
		body := csvObject(k, n)
		key := fmt.Sprintf("%s%03d.csv", prefix, k)
		s3.Put(t, bucket, key, body)
		out[k] = srcObj{Key: key, First: int64(k) * objectIDBase, Rows: n, Size: int64(len(body))}
	}
	return out
}

// verifyFileDataset checks a FileSink dataset directory against the source
// objects: one data file per object, whose ledger entry names the object
// and whose id column holds exactly that object's ids, each once. It
// reports every mismatch with t.Errorf and returns the total rows.
func verifyFileDataset(t testing.TB, dir, bucket string, objs []srcObj) int64 {
	t.Helper()
	byKey := map[string]srcObj{}
	for _, o := range objs {
		byKey[o.Key] = o
	}
	parts, err := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(parts)
	seenKey := map[string]string{}
	var total int64
	for _, p := range parts {
		entry, _, err := sink.ReadPart(p)
		if err != nil {
			t.Errorf("data file %s: %v", filepath.Base(p), err)
			continue
		}
		o, ok := byKey[entry.Object.Key]
		if !ok || entry.Object.Bucket != bucket {
			t.Errorf("data file %s is for s3://%s/%s, which is not a source object", filepath.Base(p), entry.Object.Bucket, entry.Object.Key)
			continue
		}
		if prev, dup := seenKey[o.Key]; dup {
			t.Errorf("object %s has two data files: %s and %s (duplicate commit)", o.Key, prev, filepath.Base(p))
		}
		seenKey[o.Key] = filepath.Base(p)
		ids, err := readInt64Column(p, "id")
		if err != nil {
			t.Errorf("data file %s: %v", filepath.Base(p), err)
			continue
		}
		total += int64(len(ids))
		if entry.Rows != o.Rows {
			t.Errorf("object %s: ledger entry says %d rows, the object has %d", o.Key, entry.Rows, o.Rows)
		}
		if err := exactIDs(ids, o); err != nil {
			t.Errorf("object %s (%s): %v", o.Key, filepath.Base(p), err)
		}
	}
	for _, o := range objs {
		if _, ok := seenKey[o.Key]; !ok {
			t.Errorf("object %s (%d rows) has no data file: its rows were lost", o.Key, o.Rows)
		}
	}
	return total
}

// exactIDs checks that ids are exactly o's ids, each once.
func exactIDs(ids []int64, o srcObj) error {
	seen := make([]bool, o.Rows)
	var dups, outside int
	for _, id := range ids {
		i := id - o.First
		if i < 0 || i >= o.Rows {
			outside++
			continue
		}
		if seen[i] {
			dups++
		}
		seen[i] = true
	}
	missing := 0
	for _, s := range seen {
		if !s {
			missing++
		}
	}
	if dups+outside+missing > 0 {
		return fmt.Errorf("%d rows read, want %d: %d duplicated, %d missing, %d from another object", len(ids), o.Rows, dups, missing, outside)
	}
	return nil
}

// readInt64Column reads every value of a top-level int64 column of a
// Parquet file.
func readInt64Column(path, column string) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, err
	}
	leaf, ok := pf.Schema().Lookup(column)
	if !ok {
		return nil, fmt.Errorf("no column %q", column)
	}
	out := make([]int64, 0, pf.NumRows())
	buf := make([]parquet.Value, 4096)
	for _, rg := range pf.RowGroups() {
		pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
		for {
			pg, err := pages.ReadPage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				pages.Close()
				return nil, err
			}
			vr := pg.Values()
			for {
				n, err := vr.ReadValues(buf)
				for _, v := range buf[:n] {
					if v.IsNull() {
						return nil, fmt.Errorf("column %q has a null", column)
					}
					out = append(out, v.Int64())
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					pages.Close()
					return nil, err
				}
				if n == 0 {
					break
				}
			}
			parquet.Release(pg)
		}
		pages.Close()
	}
	return out, nil
}

// tempFiles lists what is left in a FileSink dataset's .tmp directory
// (files of writers that never committed).
func tempFiles(dir string) []string {
	ents, err := os.ReadDir(filepath.Join(dir, ".tmp"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		s := e.Name()
		if info, err := e.Info(); err == nil {
			s += fmt.Sprintf(" (%d bytes)", info.Size())
		}
		out = append(out, s)
	}
	return out
}

// countParts counts the committed data files of a FileSink dataset.
func countParts(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	return len(m)
}

// fmtMB formats a byte count in MiB.
func fmtMB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
