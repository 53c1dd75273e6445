package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// fakeCatalog is a sink.Catalog holding fixed records; it remembers what it
// was asked.
type fakeCatalog struct {
	datasets map[sink.Dataset]*sink.DatasetInfo
	history  map[sink.Dataset][]sink.SchemaChange
	rejects  map[sink.Dataset][]sink.RecordedReject
	// err, when set, is returned by every method.
	err error

	gotLimit int
	closed   bool
}

func (f *fakeCatalog) Dataset(_ context.Context, ds sink.Dataset) (*sink.DatasetInfo, error) {
	if f.err != nil {
		return nil, f.err
	}
	d, ok := f.datasets[ds]
	if !ok {
		return nil, fmt.Errorf("dataset %s: %w", ds, sink.ErrDatasetNotFound)
	}
	return d, nil
}

func (f *fakeCatalog) Datasets(_ context.Context, ws string) ([]sink.DatasetInfo, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []sink.DatasetInfo
	for _, name := range []string{"events", "orders"} { // by name, as the sinks list
		if d, ok := f.datasets[sink.Dataset{Workspace: ws, Name: name}]; ok {
			out = append(out, *d)
		}
	}
	return out, nil
}

func (f *fakeCatalog) History(_ context.Context, ds sink.Dataset) ([]sink.SchemaChange, error) {
	if f.err != nil {
		return nil, f.err
	}
	if _, ok := f.datasets[ds]; !ok {
		return nil, fmt.Errorf("dataset %s: %w", ds, sink.ErrDatasetNotFound)
	}
	return f.history[ds], nil
}

func (f *fakeCatalog) Rejects(_ context.Context, ds sink.Dataset, limit int) ([]sink.RecordedReject, error) {
	f.gotLimit = limit
	if f.err != nil {
		return nil, f.err
	}
	if _, ok := f.datasets[ds]; !ok {
		return nil, fmt.Errorf("dataset %s: %w", ds, sink.ErrDatasetNotFound)
	}
	r := f.rejects[ds]
	if limit > 0 && len(r) > limit {
		r = r[:limit]
	}
	return r, nil
}

func (f *fakeCatalog) Close() error { f.closed = true; return nil }

var (
	t0      = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	t1      = time.Date(2024, 6, 7, 8, 9, 10, 0, time.UTC)
	orders  = sink.Dataset{Workspace: "ws1", Name: "orders"}
	events  = sink.Dataset{Workspace: "ws1", Name: "events"}
	objJan  = sink.ObjectRef{Bucket: "b", Key: "2024-01.csv", ETag: "e1", Size: 10}
	objJune = sink.ObjectRef{Bucket: "b", Key: "2024-06.csv", ETag: "e6", Size: 20}
)

func newFakeCatalog() *fakeCatalog {
	cols := []sink.Column{
		{Name: "id", Type: schema.Int64, Nullable: false, Pinned: true, Reason: "pinned by the job's schema"},
		{Name: "amount", Type: schema.Float64, Nullable: true, AddedBy: "s3://b/2024-01.csv#e1", AddedAt: t0, Reason: "all sampled values are decimals"},
		{Name: "xmin", Stored: "xmin_", Type: schema.String, Nullable: true, AddedBy: "s3://b/2024-01.csv#e1", AddedAt: t0, Reason: "text"},
		{Name: "email", Type: schema.String, Nullable: true, AddedBy: "s3://b/2024-06.csv#e6", AddedAt: t1, Reason: "new column in s3://b/2024-06.csv"},
	}
	return &fakeCatalog{
		datasets: map[sink.Dataset]*sink.DatasetInfo{
			orders: {Workspace: "ws1", Name: "orders", Version: 2, Columns: cols,
				Settings: sink.Settings{Evolution: sink.EvolutionRescue, Modified: sink.ModifiedAppend, AllowWidening: true, Compression: sink.CodecZstd},
				Created:  t0, Updated: t1, Objects: 2, Rows: 1234},
			events: {Workspace: "ws1", Name: "events", Version: 1,
				Columns:  []sink.Column{{Name: "at", Type: schema.Timestamp, Nullable: true, AddedBy: "s3://b/e.json#x", AddedAt: t0}},
				Settings: sink.Settings{}, Created: t0, Updated: t0, Objects: 1, Rows: 7},
		},
		history: map[sink.Dataset][]sink.SchemaChange{
			orders: {
				{Version: 1, At: t0, Object: "s3://b/2024-01.csv#e1", Added: cols[:3], Reason: "created from s3://b/2024-01.csv"},
				{Version: 2, At: t1, Object: "s3://b/2024-06.csv#e6", Added: cols[3:],
					Widened: []sink.Widening{{Column: "amount", From: schema.Int64, To: schema.Float64}}, Reason: "new columns in s3://b/2024-06.csv"},
			},
		},
		rejects: map[sink.Dataset][]sink.RecordedReject{
			orders: {
				{Object: objJan, Reject: sink.Reject{Line: 12, Column: "amount", Value: "12.3.4", Error: "not a float64"}},
				{Object: objJune, Reject: sink.Reject{Row: 5, Column: "id", Value: "a\tb", Error: "not an int64"}},
				{Object: objJune, Reject: sink.Reject{Line: 40, Column: "id", Value: "", Error: "null in a NOT NULL column"}},
			},
		},
	}
}

// catalogCLI returns a cli whose dataset commands read fc, recording the
// sink URL they asked for.
func catalogCLI(t *testing.T, fc *fakeCatalog, gotURL *string) *cli {
	return &cli{t: t, url: "redis://127.0.0.1:1/0", setup: func(a *app) {
		a.openCatalog = func(_ context.Context, url string) (sink.Catalog, io.Closer, error) {
			if gotURL != nil {
				*gotURL = url
			}
			return fc, fc, nil
		}
	}}
}

// checkAligned fails unless every row of the table whose header line
// starts with header has a cell starting under each header word.
func checkAligned(t *testing.T, out, header string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimLeft(l, " "), header) {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("no table starting with %q in:\n%s", header, out)
	}
	head := []rune(lines[start]) // tabwriter aligns runes, not bytes
	var cols []int
	for i := range head {
		if head[i] != ' ' && (i == 0 || head[i-1] == ' ' && i > 1 && head[i-2] == ' ') {
			cols = append(cols, i)
		}
	}
	rows := 0
	for _, line := range lines[start+1:] {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "(") {
			break
		}
		l := []rune(line)
		rows++
		for _, c := range cols {
			if len(l) <= c || l[c] == ' ' || (c > 0 && l[c-1] != ' ') {
				t.Fatalf("row %q has no cell starting at column %d of header %q:\n%s", line, c, string(head), out)
			}
		}
	}
	if rows == 0 {
		t.Fatalf("table %q has no rows:\n%s", header, out)
	}
}

func TestDatasetCommandsText(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		header string   // the table's header; its rows must align
		want   []string // substrings of the output
		absent []string
	}{
		{"list", []string{"dataset", "list", "--workspace", "ws1"}, "DATASET",
			[]string{"DATASET  VERSION  COLUMNS  OBJECTS  ROWS", "events", "orders", "1234", "2024-06-07T08:09:10Z"}, nil},
		{"show", []string{"dataset", "show", "--workspace", "ws1", "--dataset", "orders"}, "NAME",
			[]string{
				"dataset ws1/orders, schema version 2",
				"evolution         rescue", "modified objects  append", "type widening     on", "lineage columns   off",
				"compression       zstd",
				"objects           2", "rows              1234",
				"created           2024-01-02T03:04:05Z", "updated           2024-06-07T08:09:10Z",
				"STORED AS", "xmin_", "NOT NULL", "pinned", "s3://b/2024-06.csv#e6", "new column in s3://b/2024-06.csv",
			}, nil},
		{"show without renamed columns has no STORED column", []string{"dataset", "show", "--workspace", "ws1", "--dataset", "events"}, "NAME",
			[]string{"evolution         add", "modified objects  replace", "compression       default (snappy)", "timestamp", "nullable"}, []string{"STORED"}},
		{"history", []string{"dataset", "history", "--workspace", "ws1", "--dataset", "orders"}, "VERSION",
			[]string{"+id int64, +amount float64, +xmin string", "+email string; amount int64→float64", "created from s3://b/2024-01.csv", "s3://b/2024-06.csv#e6"}, nil},
		{"rejects", []string{"dataset", "rejects", "--workspace", "ws1", "--dataset", "orders"}, "OBJECT",
			[]string{"s3://b/2024-01.csv#e1", "line 12", `"12.3.4"`, "not a float64", "row 5", `"a\tb"`, `""`, "null in a NOT NULL column"}, []string{"--limit 0"}},
		{"rejects at the limit says so", []string{"dataset", "rejects", "--workspace", "ws1", "--dataset", "orders", "--limit", "2"}, "OBJECT",
			[]string{"line 12", "row 5", "(the first 2; --limit 0 shows all)"}, []string{"line 40"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := newFakeCatalog()
			out := catalogCLI(t, fc, nil).ok("", tc.args...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.absent {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
			checkAligned(t, out, tc.header)
			if !fc.closed {
				t.Error("the catalog was not closed")
			}
		})
	}
}

func TestDatasetCommandsJSON(t *testing.T) {
	fc := newFakeCatalog()
	c := catalogCLI(t, fc, nil)
	decode := func(out string, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
	}

	var list []sink.DatasetInfo
	decode(c.ok("", "--json", "dataset", "list", "--workspace", "ws1"), &list)
	if want := []sink.DatasetInfo{*fc.datasets[events], *fc.datasets[orders]}; !reflect.DeepEqual(list, want) {
		t.Errorf("list = %+v\nwant %+v", list, want)
	}
	if out := c.ok("", "--json", "dataset", "list", "--workspace", "ws-empty"); strings.TrimSpace(out) != "[]" {
		t.Errorf("empty list printed %q, want []", out)
	}

	var show sink.DatasetInfo
	decode(c.ok("", "--json", "dataset", "show", "--workspace", "ws1", "--dataset", "orders"), &show)
	if !reflect.DeepEqual(show, *fc.datasets[orders]) {
		t.Errorf("show = %+v\nwant %+v", show, *fc.datasets[orders])
	}

	var hist []sink.SchemaChange
	decode(c.ok("", "--json", "dataset", "history", "--workspace", "ws1", "--dataset", "orders"), &hist)
	if !reflect.DeepEqual(hist, fc.history[orders]) {
		t.Errorf("history = %+v\nwant %+v", hist, fc.history[orders])
	}
	if out := c.ok("", "--json", "dataset", "history", "--workspace", "ws1", "--dataset", "events"); strings.TrimSpace(out) != "[]" {
		t.Errorf("empty history printed %q, want []", out)
	}

	var rj []sink.RecordedReject
	decode(c.ok("", "--json", "dataset", "rejects", "--workspace", "ws1", "--dataset", "orders"), &rj)
	if !reflect.DeepEqual(rj, fc.rejects[orders]) {
		t.Errorf("rejects = %+v\nwant %+v", rj, fc.rejects[orders])
	}
}

// TestDatasetRejectsLimit: --limit reaches the catalog (default 100, 0 for
// all).
func TestDatasetRejectsLimit(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, defaultRejectsLimit},
		{[]string{"--limit", "0"}, 0},
		{[]string{"--limit", "7"}, 7},
	} {
		fc := newFakeCatalog()
		catalogCLI(t, fc, nil).ok("", append([]string{"dataset", "rejects", "--workspace", "ws1", "--dataset", "orders"}, tc.args...)...)
		if fc.gotLimit != tc.want {
			t.Errorf("%v: catalog asked for %d rejects, want %d", tc.args, fc.gotLimit, tc.want)
		}
	}
}

// TestDatasetSinkURL: --sink wins over S3INGEST_SINK, which wins over
// ingestd's default.
func TestDatasetSinkURL(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		flag      []string
		want      string
	}{
		{"default", "", nil, defaultSinkURL},
		{"environment", "file:///srv/env", nil, "file:///srv/env"},
		{"flag over environment", "file:///srv/env", []string{"--sink", "postgres://u@h/db"}, "postgres://u@h/db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envSink, tc.env)
			var got string
			catalogCLI(t, newFakeCatalog(), &got).ok("", append([]string{"dataset", "list", "--workspace", "ws1"}, tc.flag...)...)
			if got != tc.want {
				t.Fatalf("opened %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDatasetErrors(t *testing.T) {
	const pw = "s3cr3tPassw0rd"
	for _, tc := range []struct {
		name    string
		args    []string
		catErr  error
		want    []string // substrings of the error
		notWant string
		is      error
	}{
		{"no workspace", []string{"dataset", "list"}, nil, []string{"--workspace", "must not be empty"}, "", nil},
		{"bad workspace", []string{"dataset", "show", "--workspace", "w s", "--dataset", "orders"}, nil, []string{"--workspace", `"w s"`}, "", nil},
		{"no dataset", []string{"dataset", "show", "--workspace", "ws1"}, nil, []string{"--dataset", "must not be empty"}, "", nil},
		{"bad dataset", []string{"dataset", "history", "--workspace", "ws1", "--dataset", "../x"}, nil, []string{"--dataset", `"../x"`}, "", nil},
		{"negative limit", []string{"dataset", "rejects", "--workspace", "ws1", "--dataset", "orders", "--limit", "-1"}, nil, []string{"--limit -1"}, "", nil},
		{"show missing dataset", []string{"dataset", "show", "--workspace", "ws1", "--dataset", "nope"}, nil,
			[]string{`dataset "nope" not found in workspace "ws1"`, "--sink file:///data"}, "", sink.ErrDatasetNotFound},
		{"history of missing dataset", []string{"dataset", "history", "--workspace", "ws1", "--dataset", "nope"}, nil,
			[]string{`dataset "nope" not found`}, "", sink.ErrDatasetNotFound},
		{"rejects of missing dataset", []string{"dataset", "rejects", "--workspace", "ws2", "--dataset", "orders"}, nil,
			[]string{`dataset "orders" not found in workspace "ws2"`}, "", sink.ErrDatasetNotFound},
		{"catalog error with the password", []string{"dataset", "list", "--workspace", "ws1", "--sink", "postgres://u:" + pw + "@h/db"},
			fmt.Errorf("connect to postgres://u:%s@h/db: refused (password %s)", pw, pw),
			[]string{"--sink postgres://u:xxxxx@h/db", "refused"}, pw, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := newFakeCatalog()
			fc.err = tc.catErr
			args := tc.args
			if !strings.Contains(strings.Join(args, " "), "--sink") {
				args = append(args, "--sink", "file:///data")
			}
			out, errOut, err := catalogCLI(t, fc, nil).run("", args...)
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.notWant != "" && strings.Contains(err.Error()+out+errOut, tc.notWant) {
				t.Errorf("output or error %q contains %q", err, tc.notWant)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not match %v", err, tc.is)
			}
		})
	}
}

// TestDatasetRealFileSink opens the real sink by URL: a dataset that was
// never written is reported as not found with the fix, and a directory
// that does not exist is reported, not created.
func TestDatasetRealFileSink(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, url: "redis://127.0.0.1:1/0"}

	var stderr strings.Builder
	a := newApp(io.Discard, &stderr)
	code := a.execute(context.Background(), []string{"dataset", "show", "--sink", "file://" + dir, "--workspace", "ws1", "--dataset", "orders"})
	if code != 1 || !strings.Contains(stderr.String(), `dataset "orders" not found in workspace "ws1"`) ||
		!strings.Contains(stderr.String(), "fix: list the workspace's datasets with `ingestctl dataset list --workspace ws1`") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	_, _, err := c.run("", "dataset", "show", "--sink", "file://"+dir, "--workspace", "ws1", "--dataset", "orders")
	if !errors.Is(err, sink.ErrDatasetNotFound) {
		t.Fatalf("err %v, want ErrDatasetNotFound", err)
	}

	missing := filepath.Join(dir, "no", "such")
	c.fails("does not exist", "", "dataset", "show", "--sink", "file://"+missing, "--workspace", "ws1", "--dataset", "orders")
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reading created the sink directory %s (%v)", missing, err)
	}
}

// TestDatasetSinkPasswordNeverPrinted opens real, unreachable or
// unparsable PostgreSQL sinks whose password is given in each form a DSN
// can carry it: the error names the flag and the sink, not the password.
func TestDatasetSinkPasswordNeverPrinted(t *testing.T) {
	const pw = "hunter2-Secret"
	for _, dsn := range []string{
		"postgres://app:" + pw + "@127.0.0.1:1/data?connect_timeout=2",
		"postgres://app@127.0.0.1:1/data?password=" + pw + "&connect_timeout=2",
		"host=127.0.0.1 port=1 user=app password=" + pw + " dbname=data connect_timeout=2",
		"host=127.0.0.1 port=1 user=app password='" + pw + " x' dbname=data",
		"postgres://app:" + pw + "@127.0.0.1:notaport/data",
	} {
		var stdout, stderr strings.Builder
		a := newApp(&stdout, &stderr)
		code := a.execute(context.Background(), []string{"dataset", "list", "--workspace", "ws1", "--sink", dsn})
		all := stdout.String() + stderr.String()
		if code == 0 || strings.Contains(all, pw) || !strings.Contains(all, "--sink") {
			t.Errorf("sink %q: exit %d, output prints the password or does not name --sink:\n%s", dsn, code, all)
		}
	}
}

// TestDatasetShowCodecFromFileSink: the codec a commit wrote a FileSink
// dataset's files with is the dataset's, as `dataset show` prints it and
// as its JSON holds it.
func TestDatasetShowCodecFromFileSink(t *testing.T) {
	dir := t.TempDir()
	fs, err := sink.OpenFile(dir, sink.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := &schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.Int64}}}
	plan := sink.PlanFor(s)
	plan.Settings.Compression = sink.CodecZstd
	ds := sink.Dataset{Workspace: "ws1", Name: "orders"}
	w, err := fs.Begin(ctx, ds, sink.ObjectRef{Bucket: "b", Key: "k.csv", ETag: "e", Size: 1}, plan)
	if err != nil {
		t.Fatal(err)
	}
	b := schema.NewBatch(s, 1)
	b.Cols[0].AppendInt(1)
	b.Lines = append(b.Lines, 2)
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, sink.Stats{Rows: 1}); err != nil {
		t.Fatal(err)
	}
	c := &cli{t: t, url: "redis://127.0.0.1:1/0"}
	args := []string{"dataset", "show", "--sink", "file://" + dir, "--workspace", "ws1", "--dataset", "orders"}
	if out := c.ok("", args...); !strings.Contains(out, "compression       zstd") {
		t.Errorf("dataset show printed:\n%s", out)
	}
	var d sink.DatasetInfo
	if err := json.Unmarshal([]byte(c.ok("", append([]string{"--json"}, args...)...)), &d); err != nil {
		t.Fatal(err)
	}
	if d.Settings.Compression != sink.CodecZstd {
		t.Errorf("dataset show --json: compression %q, want zstd", d.Settings.Compression)
	}
}
