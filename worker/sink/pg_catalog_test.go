package sink_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

func openPG(t *testing.T, opt sink.PostgresOptions) *sink.Postgres {
	t.Helper()
	pg, err := sink.OpenPostgres(ctxT(t), testenv.Postgres(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return pg
}

// pgQuery returns the rows of a query, each as []any.
func pgQuery(t *testing.T, pg *sink.Postgres, q string, args ...any) [][]any {
	t.Helper()
	rows, err := pg.Pool().Query(ctxT(t), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// pgColumnTypes returns the table's columns and their types, in order.
func pgColumnTypes(t *testing.T, pg *sink.Postgres, ds sink.Dataset) []string {
	t.Helper()
	var out []string
	for _, r := range pgQuery(t, pg, `SELECT attname || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
		pgx.Identifier{sink.PostgresSchemaName(ds.Workspace), ds.Name}.Sanitize()) {
		out = append(out, r[0].(string))
	}
	return out
}

func columnSpecs(cols []sink.Column) []string {
	var out []string
	for _, c := range cols {
		s := c.Name + ":" + c.Type.String()
		if c.Stored != "" {
			s += "@" + c.Stored
		}
		out = append(out, s)
	}
	return out
}

// TestPostgresCatalogEvolution: the catalog row and history after the
// creation, a new column, a widening and a load that changes nothing; a
// stale plan whose type conflicts fails transiently and commits nothing.
func TestPostgresCatalogEvolution(t *testing.T) {
	ctx := ctxT(t)
	pg := openPG(t, sink.PostgresOptions{LockTimeout: time.Second})
	ds := dset("evo")
	if _, err := pg.Dataset(ctx, ds); !errors.Is(err, sink.ErrDatasetNotFound) {
		t.Fatalf("Dataset before the first commit: %v", err)
	}
	if _, err := pg.History(ctx, ds); !errors.Is(err, sink.ErrDatasetNotFound) {
		t.Fatalf("History before the first commit: %v", err)
	}
	id, amount, email := col("id", schema.Int64), col("amount", schema.Int64), col("email", schema.String)
	settings := sink.Settings{Evolution: sink.EvolutionAdd, Modified: sink.ModifiedAppend, AllowWidening: true}
	steps := []struct {
		name    string
		key     string
		plan    sink.Plan
		rows    [][]any
		version int64
		cols    []string
		table   []string
		change  string // reason of the last history entry
	}{
		{"create", "2024-01.csv",
			sink.Plan{Columns: []sink.Column{id, amount}, Settings: settings,
				Change: &sink.SchemaChange{Version: 1, Reason: "created from s3://bkt/2024-01.csv"}},
			[][]any{{1, 10}, {2, 20}}, 1,
			[]string{"id:int64", "amount:int64"},
			[]string{"id bigint", "amount bigint", "_s3ingest_key text"},
			"created from s3://bkt/2024-01.csv"},
		{"new column", "2024-06.csv",
			sink.Plan{Base: 1, Columns: []sink.Column{id, amount, email}, Settings: settings,
				Change: &sink.SchemaChange{Version: 2, Added: []sink.Column{email}, Reason: "new columns in s3://bkt/2024-06.csv"}},
			[][]any{{3, 30, "c@x"}}, 2,
			[]string{"id:int64", "amount:int64", "email:string"},
			[]string{"id bigint", "amount bigint", "_s3ingest_key text", "email text"},
			"new columns in s3://bkt/2024-06.csv"},
		{"widening", "2024-07.csv",
			sink.Plan{Base: 2, Columns: []sink.Column{id, col("amount", schema.Float64), email}, Settings: settings,
				Change: &sink.SchemaChange{Version: 3, Widened: []sink.Widening{{Column: "amount", From: schema.Int64, To: schema.Float64}}, Reason: "amount has decimals in s3://bkt/2024-07.csv"}},
			[][]any{{4, 40.5, nil}}, 3,
			[]string{"id:int64", "amount:float64", "email:string"},
			[]string{"id bigint", "amount double precision", "_s3ingest_key text", "email text"},
			"amount has decimals in s3://bkt/2024-07.csv"},
		{"no change, columns missing from the object", "2024-08.csv",
			sink.Plan{Base: 3, Columns: []sink.Column{id}, Settings: settings},
			[][]any{{5}}, 3,
			[]string{"id:int64", "amount:float64", "email:string"},
			[]string{"id bigint", "amount double precision", "_s3ingest_key text", "email text"},
			"amount has decimals in s3://bkt/2024-07.csv"},
	}
	for i, st := range steps {
		var hold pgx.Tx
		if st.plan.Change == nil {
			// A load that changes nothing does not lock the catalog row.
			var err error
			hold, err = pg.Pool().Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := hold.Exec(ctx, `SELECT 1 FROM s3ingest_datasets WHERE workspace = $1 AND dataset = $2 FOR UPDATE`, ds.Workspace, ds.Name); err != nil {
				t.Fatal(err)
			}
		}
		err := commitPlan(ctx, pg, ds, obj(st.key), st.plan, st.rows)
		if hold != nil {
			hold.Rollback(ctx)
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		info, err := pg.Dataset(ctx, ds)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := columnSpecs(info.Columns); info.Version != st.version || !slices.Equal(got, st.cols) {
			t.Errorf("%s: version %d columns %v, want %d %v", st.name, info.Version, got, st.version, st.cols)
		}
		if info.Objects != int64(i+1) || info.Settings != settings || info.Created.IsZero() || info.Updated.Before(info.Created) {
			t.Errorf("%s: info %+v", st.name, info)
		}
		if got := pgColumnTypes(t, pg, ds); !slices.Equal(got, st.table) {
			t.Errorf("%s: table %v, want %v", st.name, got, st.table)
		}
		hist, err := pg.History(ctx, ds)
		if err != nil || int64(len(hist)) != st.version || hist[len(hist)-1].Reason != st.change {
			t.Fatalf("%s: history %+v, %v", st.name, hist, err)
		}
	}
	info, _ := pg.Dataset(ctx, ds)
	if info.Rows != 5 {
		t.Errorf("rows = %d, want 5", info.Rows)
	}
	if c := info.Column("email"); c == nil || !c.Nullable || c.AddedBy != "s3://bkt/2024-06.csv#etag-2024-06.csv" || c.AddedAt.IsZero() {
		t.Errorf("email column: %+v", c)
	}
	hist, _ := pg.History(ctx, ds)
	if len(hist[0].Added) != 2 || hist[0].Object != "s3://bkt/2024-01.csv#etag-2024-01.csv" ||
		len(hist[1].Added) != 1 || hist[1].Added[0].Name != "email" ||
		len(hist[2].Widened) != 1 || hist[2].Widened[0] != (sink.Widening{Column: "amount", From: schema.Int64, To: schema.Float64}) {
		t.Errorf("history: %+v", hist)
	}
	// The widening kept the earlier values.
	got := pgQuery(t, pg, `SELECT id, amount FROM "ws_ws-test".evo ORDER BY id`)
	if fmt.Sprint(got) != "[[1 10] [2 20] [3 30] [4 40.5] [5 <nil>]]" {
		t.Errorf("rows after widening: %v", got)
	}

	// A plan made against version 1 (amount int64, no widening) conflicts
	// with the concurrent widening: transient, nothing committed.
	stale := sink.Plan{Base: 1, Columns: []sink.Column{id, amount, col("note", schema.String)}, Settings: settings,
		Change: &sink.SchemaChange{Version: 2, Added: []sink.Column{col("note", schema.String)}, Reason: "new columns"}}
	err := commitPlan(ctx, pg, ds, obj("2024-09.csv"), stale, [][]any{{6, 60, "n"}})
	var sc *sink.SchemaConflictError
	if !errors.As(err, &sc) || permanent(err) || sc.Column != "amount" || sc.Have != schema.Float64 || sc.Want != schema.Int64 {
		t.Fatalf("stale plan: err = %v", err)
	}
	after, _ := pg.Dataset(ctx, ds)
	if after.Version != 3 || after.Column("note") != nil || after.Objects != 4 {
		t.Errorf("after the conflict: %+v", after)
	}
	if l, err := pg.Lookup(ctx, ds, obj("2024-09.csv")); err != nil || l.Loaded {
		t.Errorf("conflicting object in the ledger: %+v %v", l, err)
	}
	if got := pgColumnTypes(t, pg, ds); slices.Contains(got, "note text") {
		t.Errorf("note added despite the conflict: %v", got)
	}

	list, err := pg.Datasets(ctx, testWS)
	if err != nil || len(list) != 1 || list[0].Name != "evo" || list[0].Version != 3 {
		t.Errorf("Datasets = %+v, %v", list, err)
	}
	if caps := pg.Capabilities(); !caps.AlterColumnType {
		t.Errorf("Capabilities = %+v", caps)
	}
}

// TestPostgresColumnNameMapping: names PostgreSQL cannot store as given
// load under deterministic stored names, kept in the catalog.
func TestPostgresColumnNameMapping(t *testing.T) {
	ctx := ctxT(t)
	pg := openPG(t, sink.PostgresOptions{})
	long1 := "a_very_long_column_name_from_a_vendor_export_" + strings.Repeat("x", 30) + "_one"
	long2 := "a_very_long_column_name_from_a_vendor_export_" + strings.Repeat("x", 30) + "_two"
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:4]) }
	cases := []struct {
		name   string
		cols   []string
		stored []string
	}{
		{"bounding box", []string{"id", "xmin", "ymin", "xmax", "ymax"}, []string{"id", "xmin_", "ymin", "xmax_", "ymax"}},
		{"system columns", []string{"id", "tableoid", "cmin", "cmax", "ctid"}, []string{"id", "tableoid_", "cmin_", "cmax_", "ctid_"}},
		{"long names", []string{"id", long1, long2}, []string{"id", long1[:54] + "_" + hash(long1), long1[:54] + "_" + hash(long2)}},
		{"equal after mapping", []string{"id", "xmin", "xmin_"}, []string{"id", "xmin_", "xmin__2"}},
		{"reserved prefix", []string{"id", "_s3ingest_key"}, []string{"id", "src_s3ingest_key"}},
		{"case kept", []string{"id", "ID", "Id"}, []string{"id", "ID", "Id"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := dset(fmt.Sprintf("names%d", i))
			var cols []sink.Column
			row := []any{}
			for j, n := range c.cols {
				cols = append(cols, col(n, schema.Int64))
				row = append(row, int64(100+j))
			}
			plan := sink.Plan{Columns: cols, Settings: sink.Settings{}.WithDefaults(), Change: &sink.SchemaChange{Version: 1, Reason: "created"}}
			if err := commitPlan(ctx, pg, ds, obj("o.csv"), plan, [][]any{row}); err != nil {
				t.Fatal(err)
			}
			info, err := pg.Dataset(ctx, ds)
			if err != nil {
				t.Fatal(err)
			}
			for j, col := range info.Columns {
				if col.Name != c.cols[j] || col.StoredName() != c.stored[j] || (col.Stored != "") != (c.stored[j] != c.cols[j]) {
					t.Errorf("column %q stored as %q (Stored %q), want %q", col.Name, col.StoredName(), col.Stored, c.stored[j])
				}
			}
			// Each value is under its stored name.
			for j, s := range c.stored {
				got := pgQuery(t, pg, `SELECT `+pgx.Identifier{s}.Sanitize()+` FROM `+pgx.Identifier{"ws_" + testWS, ds.Name}.Sanitize())
				if len(got) != 1 || got[0][0] != int64(100+j) {
					t.Errorf("%s = %v, want %d", s, got, 100+j)
				}
			}
			// A second object with the same names maps them the same way.
			if err := commitPlan(ctx, pg, ds, obj("p.csv"), sink.Plan{Base: 1, Columns: cols, Settings: plan.Settings}, [][]any{row}); err != nil {
				t.Fatal(err)
			}
			if again, _ := pg.Dataset(ctx, ds); again.Version != 1 || !slices.Equal(columnSpecs(again.Columns), columnSpecs(info.Columns)) {
				t.Errorf("second object changed the schema: %v", columnSpecs(again.Columns))
			}
		})
	}
	// A column added later whose mapped name is taken gets the next free one.
	ds := dset("names0")
	plan := sink.Plan{Base: 1, Columns: []sink.Column{col("id", schema.Int64), col("xmin_", schema.String)}, Settings: sink.Settings{}.WithDefaults(),
		Change: &sink.SchemaChange{Version: 2, Reason: "new"}}
	if err := commitPlan(ctx, pg, ds, obj("q.csv"), plan, [][]any{{7, "literal xmin_"}}); err != nil {
		t.Fatal(err)
	}
	info, _ := pg.Dataset(ctx, ds)
	if c := info.Column("xmin_"); c == nil || c.Stored != "xmin__2" || c.Type != schema.String {
		t.Errorf("xmin_ added after xmin: %+v", c)
	}
}

// TestPostgresReplace: a new version of a key replaces the earlier
// version's rows, rejects and ledger entry in its own transaction; a failed
// commit leaves them; append keeps both.
func TestPostgresReplace(t *testing.T) {
	ctx := ctxT(t)
	pg := openPG(t, sink.PostgresOptions{})
	ds := dset("repl")
	cols := []sink.Column{col("id", schema.Int64), col("v", schema.String)}
	version := func(etag string) sink.ObjectRef {
		o := obj("export.csv")
		o.ETag, o.VersionID = etag, "vid-"+etag
		return o
	}
	plan := func(replace bool) sink.Plan {
		p := sink.Plan{Base: 1, Columns: cols, Settings: sink.Settings{}.WithDefaults(), Replace: replace}
		if !replace {
			// The policy decides at commit: without Replace, append.
			p.Settings.Modified = sink.ModifiedAppend
		}
		return p
	}
	first := sink.Plan{Columns: cols, Settings: sink.Settings{}.WithDefaults(), Change: &sink.SchemaChange{Version: 1, Reason: "created"}}
	if err := commitPlan(ctx, pg, ds, version("e1"), first, [][]any{{1, "old"}, {2, "old"}, {3, "old"}},
		sink.Reject{Line: 9, Column: "id", Value: "x", Error: "not a number"}); err != nil {
		t.Fatal(err)
	}
	if err := commitPlan(ctx, pg, ds, obj("other.csv"), plan(false), [][]any{{100, "other"}}); err != nil {
		t.Fatal(err)
	}
	rej, err := pg.Rejects(ctx, ds, 0)
	if err != nil || len(rej) != 1 || rej[0].Object.ETag != "e1" || rej[0].Object.VersionID != "vid-e1" || rej[0].Object.Key != "export.csv" || rej[0].Line != 9 || rej[0].Error != "not a number" {
		t.Fatalf("Rejects = %+v, %v", rej, err)
	}
	data := func() string {
		return fmt.Sprint(pgQuery(t, pg, `SELECT id, v, _s3ingest_key FROM "ws_ws-test".repl ORDER BY id`))
	}
	if l, err := pg.Lookup(ctx, ds, version("e2")); err != nil || l.Loaded || len(l.Earlier) != 1 || l.Earlier[0].ETag != "e1" || l.Earlier[0].VersionID != "vid-e1" {
		t.Fatalf("Lookup(e2) = %+v, %v", l, err)
	}

	// A replacing commit that fails (here: its context is cancelled at
	// Commit) leaves the earlier rows.
	w, err := pg.Begin(ctx, ds, version("e2"), plan(true))
	if err != nil {
		t.Fatal(err)
	}
	b := schema.NewBatch(sink.ColumnsSchema(cols), 1)
	b.Cols[0].AppendInt(1)
	b.Cols[1].AppendString("new")
	b.Lines = append(b.Lines, 2)
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Commit(cctx, sink.Stats{}); err == nil {
		t.Fatal("Commit with a cancelled context succeeded")
	}
	want := "[[1 old bkt/export.csv] [2 old bkt/export.csv] [3 old bkt/export.csv] [100 other bkt/other.csv]]"
	if got := data(); got != want {
		t.Fatalf("after a failed replace: %s, want %s", got, want)
	}

	if err := commitPlan(ctx, pg, ds, version("e2"), plan(true), [][]any{{1, "new"}, {2, "new"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := data(), "[[1 new bkt/export.csv] [2 new bkt/export.csv] [100 other bkt/other.csv]]"; got != want {
		t.Errorf("after replace: %s, want %s", got, want)
	}
	if l, err := pg.Lookup(ctx, ds, version("e2")); err != nil || !l.Loaded || len(l.Earlier) != 0 {
		t.Errorf("Lookup(e2) after replace = %+v, %v", l, err)
	}
	if l, err := pg.Lookup(ctx, ds, version("e1")); err != nil || l.Loaded || len(l.Earlier) != 1 || l.Earlier[0].ETag != "e2" {
		t.Errorf("Lookup(e1) after replace = %+v, %v", l, err)
	}
	if rej, err := pg.Rejects(ctx, ds, 0); err != nil || len(rej) != 0 {
		t.Errorf("rejects of the replaced version remain: %+v %v", rej, err)
	}
	if info, err := pg.Dataset(ctx, ds); err != nil || info.Objects != 2 || info.Rows != 3 {
		t.Errorf("counts after replace: %+v, %v", info, err)
	}

	// append keeps the earlier version's rows.
	if err := commitPlan(ctx, pg, ds, version("e3"), plan(false), [][]any{{3, "appended"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := data(), "[[1 new bkt/export.csv] [2 new bkt/export.csv] [3 appended bkt/export.csv] [100 other bkt/other.csv]]"; got != want {
		t.Errorf("after append: %s, want %s", got, want)
	}
	if l, err := pg.Lookup(ctx, ds, version("e4")); err != nil || len(l.Earlier) != 2 {
		t.Errorf("Lookup(e4) after append = %+v, %v", l, err)
	}
	if info, err := pg.Dataset(ctx, ds); err != nil || info.Objects != 3 || info.Rows != 4 {
		t.Errorf("counts after append: %+v, %v", info, err)
	}
}

// TestPostgresConcurrentNewColumns: writers of one dataset that add
// different columns at once never lose a column, never deadlock, and each
// schema version is recorded once.
func TestPostgresConcurrentNewColumns(t *testing.T) {
	ctx := ctxT(t)
	pg := openPG(t, sink.PostgresOptions{LockTimeout: 20 * time.Second})
	ds := dset("conc")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cols := []sink.Column{col("id", schema.Int64)}
			if i%4 != 0 { // every fourth writer changes nothing but the first commit
				cols = append(cols, col(fmt.Sprintf("c%d", i), schema.String))
			}
			plan := sink.Plan{Columns: cols, Settings: sink.Settings{}.WithDefaults(),
				Change: &sink.SchemaChange{Version: 1, Reason: "created"}}
			for attempt := 0; ; attempt++ {
				row := []any{int64(i)}
				if len(cols) > 1 {
					row = append(row, "v")
				}
				err := commitPlan(ctx, pg, ds, obj(fmt.Sprintf("o%d.csv", i)), plan, [][]any{row})
				if err == nil || permanent(err) || attempt == 5 {
					errs[i] = err
					return
				}
				t.Logf("writer %d retries: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
		if err != nil && strings.Contains(err.Error(), "40P01") {
			t.Errorf("writer %d deadlocked", i)
		}
	}
	info, err := pg.Dataset(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"id:int64"}
	for i := range n {
		if i%4 != 0 {
			want = append(want, fmt.Sprintf("c%d:string", i))
		}
	}
	got := columnSpecs(info.Columns)
	slices.Sort(got[1:])
	if !slices.Equal(got, want) || info.Objects != n || info.Rows != n {
		t.Errorf("dataset: columns %v objects %d rows %d, want %v %d", got, info.Objects, info.Rows, want, n)
	}
	table := pgColumnTypes(t, pg, ds)
	for _, w := range want[1:] {
		if !slices.Contains(table, strings.TrimSuffix(w, ":string")+" text") {
			t.Errorf("table lacks %s: %v", w, table)
		}
	}
	hist, err := pg.History(ctx, ds)
	if err != nil || int64(len(hist)) != info.Version {
		t.Fatalf("history %d entries, version %d, %v", len(hist), info.Version, err)
	}
	added := 0
	for i, h := range hist {
		if h.Version != int64(i+1) {
			t.Errorf("history[%d].Version = %d", i, h.Version)
		}
		added += len(h.Added)
	}
	if added != len(want) {
		t.Errorf("history adds %d columns, want %d", added, len(want))
	}
	var nrows int
	if err := pg.Pool().QueryRow(ctx, `SELECT count(*) FROM "ws_ws-test".conc`).Scan(&nrows); err != nil || nrows != n {
		t.Errorf("rows = %d, %v", nrows, err)
	}
}

// TestPostgresPreCatalogTable: a dataset table created by an earlier
// version (no catalog row, no _s3ingest_key) gets its catalog row from its
// columns on first use and loses nothing.
func TestPostgresPreCatalogTable(t *testing.T) {
	ctx := ctxT(t)
	pg := openPG(t, sink.PostgresOptions{})
	for _, q := range []string{
		`CREATE SCHEMA "ws_ws-test"`,
		`CREATE TABLE "ws_ws-test".legacy (id bigint NOT NULL, name text, at timestamp with time zone)`,
		`CREATE TABLE "ws_ws-test".legacy_rejects (bucket text NOT NULL, key text NOT NULL, version text NOT NULL, size bigint NOT NULL,
	line bigint, "row" bigint, "column" text, value text, error text NOT NULL, rejected_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
		`INSERT INTO "ws_ws-test".legacy VALUES (1, 'one', now()), (2, NULL, NULL)`,
		`INSERT INTO s3ingest_ledger (workspace, dataset, bucket, key, version, size, etag, rows, rejected, bytes) VALUES ('ws-test', 'legacy', 'bkt', 'old.csv', 'e0', 10, 'e0', 2, 0, 10)`,
		`CREATE TABLE "ws_ws-test".legacy2 (id bigint)`,
	} {
		if _, err := pg.Pool().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cases := []struct {
		name string
		ds   string
		use  func(ds sink.Dataset) error
		cols []string
		ver  int64
	}{
		{"read first", "legacy", func(ds sink.Dataset) error { _, err := pg.Dataset(ctx, ds); return err },
			[]string{"id:int64", "name:string", "at:timestamp"}, 1},
		{"load first, with a new column", "legacy2", func(ds sink.Dataset) error {
			plan := sink.Plan{Base: 1, Columns: []sink.Column{col("id", schema.Int64), col("extra", schema.String)}, Settings: sink.Settings{}.WithDefaults(),
				Change: &sink.SchemaChange{Version: 2, Reason: "new columns"}}
			return commitPlan(ctx, pg, ds, obj("new.csv"), plan, [][]any{{9, "x"}})
		}, []string{"id:int64", "extra:string"}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := dset(c.ds)
			if err := c.use(ds); err != nil {
				t.Fatal(err)
			}
			info, err := pg.Dataset(ctx, ds)
			if err != nil {
				t.Fatal(err)
			}
			if got := columnSpecs(info.Columns); info.Version != c.ver || !slices.Equal(got, c.cols) {
				t.Errorf("version %d columns %v, want %d %v", info.Version, got, c.ver, c.cols)
			}
			hist, err := pg.History(ctx, ds)
			if err != nil || int64(len(hist)) != c.ver || !strings.Contains(hist[0].Reason, "before the dataset catalog") {
				t.Errorf("history %+v, %v", hist, err)
			}
		})
	}
	info, _ := pg.Dataset(ctx, dset("legacy"))
	if c := info.Column("id"); c == nil || c.Nullable {
		t.Errorf("legacy id: %+v (NOT NULL in the table)", c)
	}
	if info.Objects != 1 || info.Rows != 2 {
		t.Errorf("legacy counts: %+v", info)
	}
	// A load into the legacy table adds _s3ingest_key; old rows keep their
	// values (and a null key).
	plan := sink.Plan{Base: 1, Columns: []sink.Column{{Name: "id", Type: schema.Int64}, col("name", schema.String)}, Settings: info.Settings}
	if err := commitPlan(ctx, pg, dset("legacy"), obj("new.csv"), plan, [][]any{{3, "three"}}); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(pgQuery(t, pg, `SELECT id, name, _s3ingest_key FROM "ws_ws-test".legacy ORDER BY id`))
	if got != "[[1 one <nil>] [2 <nil> <nil>] [3 three bkt/new.csv]]" {
		t.Errorf("legacy rows: %s", got)
	}
	if after, _ := pg.Dataset(ctx, dset("legacy")); after.Version != 1 {
		t.Errorf("adding the key column made a schema version: %d", after.Version)
	}
	// A new version of old.csv under replace cannot find the legacy rows
	// by key: it fails naming the object and the fix, and keeps the old
	// rows and their ledger entry.
	newer := sink.ObjectRef{Bucket: "bkt", Key: "old.csv", ETag: "e1", Size: 12}
	replace := plan
	replace.Replace = true
	err := commitPlan(ctx, pg, dset("legacy"), newer, replace, [][]any{{1, "one again"}})
	if !errors.Is(err, sink.ErrIncompatibleSchema) || !strings.Contains(err.Error(), "s3://bkt/old.csv") || !strings.Contains(err.Error(), "append") {
		t.Fatalf("replace of a legacy object = %v, want a permanent error naming it and the fix", err)
	}
	if got := fmt.Sprint(pgQuery(t, pg, `SELECT count(*) FROM "ws_ws-test".legacy`)); got != "[[3]]" {
		t.Errorf("rows after the refused replace: %s", got)
	}
	if l, _ := pg.Lookup(ctx, dset("legacy"), newer); len(l.Earlier) != 1 {
		t.Errorf("the legacy ledger entry is gone after the refused replace: %+v", l)
	}
	list, err := pg.Datasets(ctx, testWS)
	if err != nil || len(list) != 2 || list[0].Name != "legacy" || list[1].Name != "legacy2" {
		t.Errorf("Datasets = %+v, %v", list, err)
	}
}
