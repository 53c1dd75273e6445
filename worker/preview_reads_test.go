package worker_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers"
)

// rangedBytes sums the lengths of the byte ranges the worker asked for on
// path, and fails if any GET of it had no Range header (a whole-object read).
func rangedBytes(t *testing.T, rec *testenv.RecordingProxy, path string) (total int64, gets int) {
	t.Helper()
	for _, r := range rec.Requests() {
		if r.Method != "GET" || r.Path != path {
			continue
		}
		gets++
		first, last, ok := strings.Cut(strings.TrimPrefix(r.Range, "bytes="), "-")
		a, err1 := strconv.ParseInt(first, 10, 64)
		b, err2 := strconv.ParseInt(last, 10, 64)
		if r.Range == "" || !ok || err1 != nil || err2 != nil {
			t.Fatalf("GET %s without a bounded Range (%q): the preview read the whole object", path, r.Range)
		}
		total += b - a + 1
	}
	return total, gets
}

type wideRow struct {
	ID    int64   `parquet:"id"`
	Name  string  `parquet:"name"`
	Score float64 `parquet:"score"`
}

// TestPreviewReadsOnlyTheHead checks that a preview of large objects reads
// a bounded head of CSV and only the footer and first pages of Parquet.
func TestPreviewReadsOnlyTheHead(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)

	var csv bytes.Buffer
	csv.WriteString("id,name,amount,day,paid\n")
	for i := 1; csv.Len() < 12<<20; i++ {
		fmt.Fprintf(&csv, "%d,name %d with some padding to make the object larger,%d.5,2024-03-%02d,%t\n", i, i, i, i%28+1, i%2 == 0)
	}
	h.s3.Put(t, bucket, "big/a.csv", csv.Bytes())

	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([]wideRow, 200000)
	for i := range rows {
		rows[i] = wideRow{ID: int64(i), Name: strconv.FormatUint(rng.Uint64(), 36) + strconv.FormatUint(rng.Uint64(), 36), Score: rng.Float64()}
	}
	var pq bytes.Buffer
	w := parquet.NewGenericWriter[wideRow](&pq, parquet.PageBufferSize(256<<10))
	for i := 0; i < len(rows); i += 20000 {
		if _, err := w.Write(rows[i : i+20000]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil { // one row group per 20000 rows
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h.s3.Put(t, bucket, "big/b.parquet", pq.Bytes())

	rec := h.s3.RecordingProxy(t)
	c, err := h.store.AddCredential(t.Context(), "ws-a", credInput(testenv.ReaderAccessKey, testenv.ReaderSecretKey, h.s3.Region, rec.Endpoint))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		key    string
		size   int
		format parsers.Format
		limit  int64
	}{
		{"big/a.csv", csv.Len(), parsers.FormatCSV, parsers.DefaultPreviewHeadBytes},
		{"big/b.parquet", pq.Len(), parsers.FormatParquet, int64(pq.Len()) / 3},
	} {
		t.Run(tc.key, func(t *testing.T) {
			rec.Reset()
			task, err := jobs.NewPreviewTask(jobs.PreviewPayload{WorkspaceID: "ws-a", CredentialID: c.ID,
				Source: jobs.Source{Bucket: bucket, Keys: []string{tc.key}}, Rows: 10})
			if err != nil {
				t.Fatal(err)
			}
			var res jobs.PreviewResult
			if info, err := h.run(task, &res); err != nil {
				t.Fatalf("preview: %v (%s)", err, info.LastErr)
			}
			if res.Format != tc.format || len(res.Rows) != 10 {
				t.Fatalf("format %s with %d rows", res.Format, len(res.Rows))
			}
			if fmt.Sprint(res.Rows[3][0]) != "3" && fmt.Sprint(res.Rows[3][0]) != "4" {
				t.Fatalf("row 3 = %v", res.Rows[3])
			}
			read, gets := rangedBytes(t, rec, "/"+bucket+"/"+tc.key)
			if gets == 0 || read > tc.limit {
				t.Fatalf("%d ranged GETs read %d of %d bytes, want at most %d", gets, read, tc.size, tc.limit)
			}
			t.Logf("%s: %d GETs, %d of %d bytes", tc.key, gets, read, tc.size)
		})
	}
}
