package sink_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// openFiles opens n FileSinks on one root: like n processes, each has its
// own open files, so they exclude each other only through the dataset
// locks (flock).
func openFiles(t *testing.T, root string, n int) []*sink.FileSink {
	t.Helper()
	out := make([]*sink.FileSink, n)
	for i := range out {
		fs, err := sink.OpenFile(root, sink.FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = fs
	}
	return out
}

func datasetDir(t *testing.T, s *sink.FileSink, ds sink.Dataset) string {
	t.Helper()
	dir, err := s.DatasetDir(ds)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFileSinkConcurrentSameVersion (issue 8 item 7): two writers of the
// same object version, with different rows and rejects, race their
// commits, hundreds of times. Exactly one wins every time, and the data,
// the rejects and the ledger entry (manifest and part metadata) all come
// from that one writer; the loser leaves nothing behind.
func TestFileSinkConcurrentSameVersion(t *testing.T) {
	iterations := 300
	if testing.Short() {
		iterations = 30
	}
	root := t.TempDir()
	sinks := openFiles(t, root, 2)
	ctx := ctxT(t)
	plan := planOf(col("id", schema.Int64), col("writer", schema.String))
	o := obj("race.csv")
	wins := map[string]int{}
	for it := 0; it < iterations; it++ {
		ds := dset(fmt.Sprintf("race-%d", it))
		// Writer A: 3 rows, 1 reject; writer B: 4 rows, 2 rejects.
		names := []string{"A", "B"}
		ws := make([]sink.Writer, 2)
		for i, name := range names {
			w, err := sinks[i].Begin(ctx, ds, o, plan)
			if err != nil {
				t.Fatal(err)
			}
			b := schema.NewBatch(sink.ColumnsSchema(plan.Columns), 4)
			for r := 0; r < 3+i; r++ {
				b.Cols[0].AppendInt(int64(r))
				b.Cols[1].AppendString(name)
				b.Lines = append(b.Lines, int64(r+2))
			}
			if err := w.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			for r := 0; r < 1+i; r++ {
				if err := w.Reject(ctx, sink.Reject{Line: int64(100 + r), Error: name}); err != nil {
					t.Fatal(err)
				}
			}
			ws[i] = w
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for i, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = w.Commit(ctx, sink.Stats{Rejected: int64(1 + i)})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("iteration %d: commit of writer %s: %v", it, names[i], err)
			}
		}

		dir := datasetDir(t, sinks[0], ds)
		c, err := sink.ReadDataset(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Rows) == 0 || len(c.Objects) != 1 {
			t.Fatalf("iteration %d: %d rows, %d ledger entries", it, len(c.Rows), len(c.Objects))
		}
		winner := c.Rows[0][1].(string)
		wantRows, wantRejects := 3, 1
		if winner == "B" {
			wantRows, wantRejects = 4, 2
		}
		wins[winner]++
		for _, r := range c.Rows {
			if r[1] != winner {
				t.Fatalf("iteration %d: rows of both writers: %v", it, c.Rows)
			}
		}
		if len(c.Rows) != wantRows {
			t.Fatalf("iteration %d: %d rows of writer %s, want %d", it, len(c.Rows), winner, wantRows)
		}
		if len(c.Rejects) != wantRejects {
			t.Fatalf("iteration %d: rejects %+v, want writer %s's %d", it, c.Rejects, winner, wantRejects)
		}
		for _, r := range c.Rejects {
			if r.Error != winner {
				t.Fatalf("iteration %d: rows of writer %s, rejects %+v", it, winner, c.Rejects)
			}
		}
		if e := c.Objects[0]; e.Rows != int64(wantRows) || e.Rejected != int64(wantRejects) {
			t.Fatalf("iteration %d: manifest's ledger entry %+v, want writer %s's", it, e, winner)
		}
		// The part's own copy of its ledger entry is the same writer's.
		p, _ := sinks[0].PartPath(ds, o)
		if e, _, err := sink.ReadPart(p); err != nil || e.Rows != int64(wantRows) || e.Rejected != int64(wantRejects) {
			t.Fatalf("iteration %d: part metadata %+v, %v; want writer %s's", it, e, err, winner)
		}
		if n := len(glob(t, filepath.Join(dir, "part-*"))) + len(glob(t, filepath.Join(dir, "_rejects", "*"))) + len(glob(t, filepath.Join(dir, ".tmp", "*"))); n != 2 {
			t.Fatalf("iteration %d: %d files, want the winner's part and rejects only", it, n)
		}
	}
	t.Logf("wins: %v", wins)
}

// TestFileSinkConcurrentColumns: concurrent commits of different objects
// that each add a different column never lose a column: every one is in
// the manifest, in a version of its own, and its values read back.
func TestFileSinkConcurrentColumns(t *testing.T) {
	const writers = 6
	rounds := 20
	if testing.Short() {
		rounds = 3
	}
	root := t.TempDir()
	sinks := openFiles(t, root, 2)
	ctx := ctxT(t)
	for round := 0; round < rounds; round++ {
		ds := dset(fmt.Sprintf("cols-%d", round))
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, writers)
		for i := 0; i < writers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				plan := planOf(col("id", schema.Int64), col(fmt.Sprintf("c%d", i), schema.String))
				<-start
				errs[i] = commitPlan(ctx, sinks[i%2], ds, obj(fmt.Sprintf("o%d.csv", i)), plan, [][]any{{int64(i), fmt.Sprintf("v%d", i)}})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: writer %d: %v", round, i, err)
			}
		}
		info, err := sinks[0].Dataset(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		names := columnNames(info.Columns)
		slices.Sort(names)
		if want := []string{"c0", "c1", "c2", "c3", "c4", "c5", "id"}; !reflect.DeepEqual(names, want) || info.Version != writers || info.Objects != writers {
			t.Fatalf("round %d: columns %v version %d objects %d; want %v, version %d, %d objects", round, names, info.Version, info.Objects, want, writers, writers)
		}
		hist, err := sinks[1].History(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		var added []string
		for i, h := range hist {
			if h.Version != int64(i+1) {
				t.Errorf("round %d: history %d has version %d", round, i, h.Version)
			}
			added = append(added, columnNames(h.Added)...)
		}
		slices.Sort(added)
		if !reflect.DeepEqual(added, names) {
			t.Errorf("round %d: history adds %v, want each column once: %v", round, added, names)
		}
		c, err := sink.ReadDataset(datasetDir(t, sinks[0], ds))
		if err != nil {
			t.Fatal(err)
		}
		sortByID(c.Rows)
		for i, r := range c.Rows {
			k := c.Schema.Index(fmt.Sprintf("c%d", i))
			for j, v := range r {
				if want := any(nil); j == k {
					want = fmt.Sprintf("v%d", i)
					if v != want {
						t.Errorf("round %d: row %d column %s = %v, want %v", round, i, c.Schema.Fields[j].Name, v, want)
					}
				} else if j != c.Schema.Index("id") && v != nil {
					t.Errorf("round %d: row %d column %s = %v, want null", round, i, c.Schema.Fields[j].Name, v)
				}
			}
		}
	}
}

// TestFileSinkUnlistedFilesIgnored: the files of a commit that died after
// publishing its part and before its manifest update are garbage: never
// read, replaced by the object's retry, and swept once old.
func TestFileSinkUnlistedFilesIgnored(t *testing.T) {
	root := t.TempDir()
	s := openFiles(t, root, 1)[0]
	ctx := ctxT(t)
	ds := dset("garbage")
	p := planOf(col("id", schema.Int64), col("v", schema.String))
	if err := commitPlan(ctx, s, ds, obj("a.csv"), p, [][]any{{int64(1), "a"}}, sink.Reject{Line: 3, Error: "a"}); err != nil {
		t.Fatal(err)
	}
	dir := datasetDir(t, s, ds)
	partA, _ := s.PartPath(ds, obj("a.csv"))
	partB, _ := s.PartPath(ds, obj("b.csv"))
	rejB := filepath.Join(dir, "_rejects", strings.TrimSuffix(filepath.Base(partB), ".parquet")+".ndjson")
	// The "crashed" commit of b.csv: a complete part (a's bytes) and a
	// rejects file under b's names, and no manifest update.
	data, err := os.ReadFile(partA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(partB, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rejB, []byte(`{"line":1,"error":"garbage"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := s.Lookup(ctx, ds, obj("b.csv")); err != nil || l.Loaded {
		t.Fatalf("Lookup(b) = %+v, %v: an unlisted part is not committed", l, err)
	}
	c, err := sink.ReadDataset(dir)
	if err != nil || len(c.Rows) != 1 || len(c.Rejects) != 1 || c.Rejects[0].Error != "a" {
		t.Fatalf("ReadDataset = %+v, %v: unlisted files must not be read", c, err)
	}
	if rej, err := s.Rejects(ctx, ds, 0); err != nil || len(rej) != 1 {
		t.Fatalf("Rejects = %+v, %v", rej, err)
	}
	// The retry of b.csv publishes over the garbage.
	if err := commitPlan(ctx, s, ds, obj("b.csv"), p, [][]any{{int64(2), "b"}, {int64(3), "b"}}); err != nil {
		t.Fatal(err)
	}
	c, err = sink.ReadDataset(dir)
	if err != nil {
		t.Fatal(err)
	}
	sortByID(c.Rows)
	equalRows(t, c.Rows, [][]any{{int64(1), "a"}, {int64(2), "b"}, {int64(3), "b"}}, true)
	if len(c.Rejects) != 1 {
		t.Errorf("rejects = %+v: b's retry recorded none", c.Rejects)
	}
	// A garbage part of an object never retried is swept by the first
	// commit of a new sink once older than StaleTempAge; listed files stay.
	partC, _ := s.PartPath(ds, obj("c.csv"))
	if err := os.WriteFile(partC, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	for _, f := range []string{partA, partC, rejB} {
		os.Chtimes(f, old, old)
	}
	s2 := openFiles(t, root, 1)[0]
	if err := commitPlan(ctx, s2, ds, obj("d.csv"), p, [][]any{{int64(4), "d"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(partC); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unlisted old part not swept: %v", err)
	}
	if _, err := os.Stat(rejB); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unlisted old rejects file not swept: %v", err)
	}
	if c, err := sink.ReadDataset(dir); err != nil || len(c.Rows) != 4 {
		t.Errorf("after the sweep: %v rows, %v; want 4", len(c.Rows), err)
	}
}

// TestFileSinkReplaceRemovesFiles: a replacement takes the earlier
// version's part and rejects out of the manifest and off the disk, and
// that version is no longer in the ledger.
func TestFileSinkReplaceRemovesFiles(t *testing.T) {
	s := openFiles(t, t.TempDir(), 1)[0]
	ctx := ctxT(t)
	ds := dset("replace-files")
	p := planOf(col("id", schema.Int64))
	v1, v2 := version("k.csv", "e1"), version("k.csv", "e2")
	if err := commitPlan(ctx, s, ds, v1, p, [][]any{{int64(1)}}, sink.Reject{Line: 2, Error: "v1"}); err != nil {
		t.Fatal(err)
	}
	rp := p
	rp.Replace = true
	if err := commitPlan(ctx, s, ds, v2, rp, [][]any{{int64(2)}}); err != nil {
		t.Fatal(err)
	}
	dir := datasetDir(t, s, ds)
	if files := append(glob(t, filepath.Join(dir, "part-*")), glob(t, filepath.Join(dir, "_rejects", "*"))...); len(files) != 1 {
		t.Errorf("files after replace: %v, want v2's part only", files)
	}
	m, err := sink.ReadManifest(dir)
	if err != nil || len(m.Parts) != 1 || m.Parts[0].Object.ETag != "e2" {
		t.Fatalf("manifest = %+v, %v", m, err)
	}
	if l, err := s.Lookup(ctx, ds, v1); err != nil || l.Loaded || len(l.Earlier) != 1 {
		t.Errorf("Lookup(v1) = %+v, %v; want not loaded, earlier [v2]", l, err)
	}
	if rej, err := s.Rejects(ctx, ds, 0); err != nil || len(rej) != 0 {
		t.Errorf("rejects after replace = %+v, %v; v1's left with its rows", rej, err)
	}
}

// TestFileSinkManifest: the manifest's format on disk: the record, the
// history and the parts, and a revision that each commit increments.
func TestFileSinkManifest(t *testing.T) {
	s := openFiles(t, t.TempDir(), 1)[0]
	ctx := ctxT(t)
	ds := dset("manifest")
	p := planOf(col("id", schema.Int64))
	dir := datasetDir(t, s, ds)
	for i, key := range []string{"a.csv", "b.csv"} {
		if err := commitPlan(ctx, s, ds, obj(key), p, [][]any{{int64(i)}}, sink.Reject{Line: 1, Error: "x"}); err != nil {
			t.Fatal(err)
		}
		m, err := sink.ReadManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		// Revision 1 is the empty manifest written before the first files.
		if m.Format != sink.ManifestFormat || m.Revision != int64(i+2) || len(m.Parts) != i+1 || m.Dataset.Version != 1 || len(m.History) != 1 {
			t.Fatalf("after commit %d: %+v", i, m)
		}
		part := m.Parts[i]
		want, _ := s.PartPath(ds, obj(key))
		if part.File != filepath.Base(want) || part.Object.Key != key || part.Rows != 1 || part.Rejected != 1 ||
			part.RejectsFile != filepath.Join("_rejects", strings.TrimSuffix(part.File, ".parquet")+".ndjson") || part.CommittedAt.IsZero() {
			t.Errorf("part %d = %+v", i, part)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, sink.ManifestFile)); err != nil {
		t.Error(err)
	}
	if tmps := glob(t, filepath.Join(dir, sink.ManifestFile+"*")); len(tmps) != 1 {
		t.Errorf("manifest files: %v", tmps)
	}
}

// copyDir copies the directory tree src to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFileSinkMigration: a dataset directory written by the previous
// version (testdata/legacy-v0, written by its code: parts with the ledger
// in their metadata and no manifest; 2024-01.csv in two versions, a
// column added partway, one object with id as text) keeps working: the
// manifest is built from the parts on first open, losing nothing, and
// commits continue on top of it.
func TestFileSinkMigration(t *testing.T) {
	root := t.TempDir()
	copyDir(t, filepath.Join("testdata", "legacy-v0"), root)
	s := openFiles(t, root, 1)[0]
	ctx := ctxT(t)
	ds := dset("legacy")
	dir := datasetDir(t, s, ds)
	before := glob(t, filepath.Join(dir, "part-*.parquet"))

	wantRows := [][]any{
		{"1", 0.5, nil}, {"10", 10.0, "ua@example.com"}, {"11", 10.0, "ub@example.com"},
		{"2", nil, nil}, {"20", 20.25, nil}, {"3", 2.5, nil}, {"x-1", nil, nil},
	}
	check := func(when string) {
		t.Helper()
		c, err := sink.ReadDataset(dir)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if got := c.Schema.String(); !strings.Contains(got, "id") || c.Schema.Fields[0].Type != schema.String || c.Schema.Fields[1].Type != schema.Float64 || c.Schema.Fields[2].Name != "email" {
			t.Errorf("%s: schema %s, want id string, amount float64, email string", when, got)
		}
		sortByFirst(c.Rows)
		equalRows(t, c.Rows, wantRows, true)
		if len(c.Objects) != 4 || len(c.Rejects) != 2 {
			t.Errorf("%s: %d ledger entries, rejects %+v; want 4 and the 2 of committed parts", when, len(c.Objects), c.Rejects)
		}
	}
	check("read before the sink opened it")
	if _, err := os.Stat(filepath.Join(dir, sink.ManifestFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadDataset wrote a manifest: %v", err)
	}

	info, err := s.Dataset(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, sink.ManifestFile)); err != nil {
		t.Fatalf("no manifest after the first open: %v", err)
	}
	if got := columnNames(info.Columns); !reflect.DeepEqual(got, []string{"id", "amount", "email"}) || info.Version != 3 || info.Objects != 4 || info.Rows != 7 {
		t.Errorf("record = %+v", info)
	}
	if c := info.Column("email"); c == nil || !strings.Contains(c.AddedBy, "2024-06.csv") || !c.Nullable {
		t.Errorf("email = %+v", c)
	}
	if c := info.Column("id"); c == nil || c.Type != schema.String || !strings.Contains(c.Reason, "int64") {
		t.Errorf("id = %+v, want string, the reason naming both types", c)
	}
	hist, err := s.History(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || !reflect.DeepEqual(columnNames(hist[0].Added), []string{"id", "amount"}) || !reflect.DeepEqual(columnNames(hist[1].Added), []string{"email"}) ||
		!reflect.DeepEqual(hist[2].Widened, []sink.Widening{{Column: "id", From: schema.Int64, To: schema.String}}) || !strings.Contains(hist[2].Object, "odd.csv") {
		t.Errorf("history = %+v", hist)
	}
	rej, err := s.Rejects(ctx, ds, 0)
	if err != nil || len(rej) != 2 || rej[0].Object.Key != "2024-01.csv" || rej[0].Value != "12.3.4" || rej[1].Object.Key != "odd.csv" {
		t.Errorf("rejects = %+v, %v", rej, err)
	}
	l, err := s.Lookup(ctx, ds, obj("2024-01.csv"))
	if err != nil || !l.Loaded || len(l.Earlier) != 1 || l.Earlier[0].ETag != "etag-2024-01.csv-v2" {
		t.Errorf("Lookup(2024-01.csv) = %+v, %v", l, err)
	}
	check("read after the migration")
	if after := glob(t, filepath.Join(dir, "part-*.parquet")); !reflect.DeepEqual(after, before) {
		t.Errorf("parts changed: %v, were %v", after, before)
	}

	// Commits continue: a plan with the dataset's types and a new column.
	p := planOf(col("id", schema.String), col("amount", schema.Float64), col("note", schema.String))
	p.Base = 3
	if err := commitPlan(ctx, s, ds, obj("2024-09.csv"), p, [][]any{{"30", 1.0, "new"}}); err != nil {
		t.Fatal(err)
	}
	// id as int64 is a conflict: the dataset holds one type per column.
	bad := planOf(col("id", schema.Int64))
	var ce *sink.SchemaConflictError
	if err := commitPlan(ctx, s, ds, obj("2024-10.csv"), bad, [][]any{{int64(40)}}); !errors.As(err, &ce) || ce.Column != "id" {
		t.Errorf("id as int64 after the migration: %v, want a *SchemaConflictError", err)
	}
	info, err = s.Dataset(ctx, ds)
	if err != nil || info.Version != 4 || info.Objects != 5 || info.Column("note") == nil {
		t.Errorf("record after a new commit = %+v, %v", info, err)
	}
	c, err := sink.ReadDataset(dir)
	if err != nil || len(c.Rows) != 8 || len(c.Schema.Fields) != 4 {
		t.Errorf("after a new commit: %v rows, schema %v, %v", len(c.Rows), c.Schema, err)
	}
}

// TestFileSinkLockWaitsForContext: a commit waiting for the dataset's lock
// gives up when its context ends, and commits nothing.
func TestFileSinkLockWaitsForContext(t *testing.T) {
	s := openFiles(t, t.TempDir(), 1)[0]
	ctx := ctxT(t)
	ds := dset("locked")
	p := planOf(col("id", schema.Int64))
	if err := commitPlan(ctx, s, ds, obj("a.csv"), p, [][]any{{int64(1)}}); err != nil {
		t.Fatal(err)
	}
	dir := datasetDir(t, s, ds)
	holder, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := flock(holder); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	w, err := s.Begin(short, ds, obj("b.csv"), p)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(short, sink.Stats{}); !errors.Is(err, context.DeadlineExceeded) || permanent(err) {
		t.Errorf("commit behind a held lock = %v, want a transient deadline error", err)
	}
	if l, err := s.Lookup(ctx, ds, obj("b.csv")); err != nil || l.Loaded {
		t.Errorf("Lookup(b) = %+v, %v", l, err)
	}
	if tmps := glob(t, filepath.Join(dir, ".tmp", "*")); len(tmps) != 0 {
		t.Errorf("temp files left: %v", tmps)
	}
}

// flock takes f's exclusive flock, as another process's commit would.
func flock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) }
