package sink_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// TestWorkspaceIsolation: two workspaces ingest the same object version
// into a dataset of the same name. Each gets its own dataset: its own rows,
// rejects and ledger; the second is not skipped because the first
// committed the object.
func TestWorkspaceIsolation(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		s := allTypes()
		o := obj("shared/orders.csv")
		a := sink.Dataset{Workspace: "ws-a", Name: "orders"}
		b := sink.Dataset{Workspace: "ws-b", Name: "orders"}
		commit := func(ds sink.Dataset, rows []row, idOffset int64, reject string) [][]any {
			t.Helper()
			if seen, err := seen(ctx, tg.sink, ds, o); err != nil || seen {
				t.Fatalf("%s: Seen before its own commit = %v, %v", ds, seen, err)
			}
			w, err := tg.sink.Begin(ctx, ds, o, sink.PlanFor(s))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort(ctx)
			batch := fillBatch(s, rows, idOffset)
			if err := w.Write(ctx, batch); err != nil {
				t.Fatal(err)
			}
			if err := w.Reject(ctx, sink.Reject{Line: 9, Error: reject}); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(ctx, sink.Stats{Rejected: 1}); err != nil {
				t.Fatal(err)
			}
			if seen, err := seen(ctx, tg.sink, ds, o); err != nil || !seen {
				t.Fatalf("%s: Seen after commit = %v, %v", ds, seen, err)
			}
			return wantRows(batch)
		}
		wantA := commit(a, testRows, 0, "bad in a")
		wantB := commit(b, testRows[:2], 100, "bad in b")

		equalRows(t, tg.rows(t, a), wantA, tg.name == "file")
		equalRows(t, tg.rows(t, b), wantB, tg.name == "file")
		if got := tg.rejects(t, a); len(got) != 1 || got[0].Error != "bad in a" {
			t.Errorf("rejects of %s = %+v", a, got)
		}
		if got := tg.rejects(t, b); len(got) != 1 || got[0].Error != "bad in b" {
			t.Errorf("rejects of %s = %+v", b, got)
		}
		for _, ds := range []sink.Dataset{a, b} {
			if got := tg.ledger(t, ds); !reflect.DeepEqual(got, []string{o.Key}) {
				t.Errorf("ledger of %s = %v, want [%s]", ds, got, o.Key)
			}
		}
		// A third workspace has not seen it either.
		if seen, err := seen(ctx, tg.sink, sink.Dataset{Workspace: "ws-c", Name: "orders"}, o); err != nil || seen {
			t.Errorf("ws-c: Seen = %v, %v", seen, err)
		}
	})
}

// TestWorkspaceIDRule: ValidateWorkspace accepts exactly what
// credstore.ValidateWorkspaceID accepts (both apply package ident; this
// catches either one drifting from it).
func TestWorkspaceIDRule(t *testing.T) {
	cases := []string{
		"", "ws-a", "Acme_Prod", "acme:prod@eu.1", ".", "..", "-rf", ":", "@",
		strings.Repeat("w", sink.MaxWorkspaceID), strings.Repeat("w", sink.MaxWorkspaceID+1),
		strings.Repeat("é", 64), "a/b", "../x", "a b", "a%3A", "naïve", "tab\t", "a\x00", "a\\b", "a+b", "a,b", "日本",
	}
	for c := 0; c < 256; c++ {
		cases = append(cases, "x"+string(rune(c)), string([]byte{'x', byte(c)}))
	}
	for _, ws := range cases {
		got, want := sink.ValidateWorkspace(ws), credstore.ValidateWorkspaceID(ws)
		if (got == nil) != (want == nil) {
			t.Errorf("workspace %q: sink says %v, credstore says %v", ws, got, want)
		}
		if got != nil && (!errors.Is(got, sink.ErrInvalidDataset) || !strings.Contains(got.Error(), "workspace") || !permanent(got)) {
			t.Errorf("workspace %q: error %q should be a permanent ErrInvalidDataset naming the workspace", ws, got)
		}
	}

	// Dataset.Validate names the field that is wrong.
	for _, c := range []struct {
		ds    sink.Dataset
		field string
	}{
		{sink.Dataset{Name: "orders"}, "workspace"},
		{sink.Dataset{Workspace: "a b", Name: "orders"}, "workspace"},
		{sink.Dataset{Workspace: "ws-a"}, "dataset"},
		{sink.Dataset{Workspace: "ws-a", Name: "../x"}, "dataset"},
	} {
		err := c.ds.Validate()
		if !errors.Is(err, sink.ErrInvalidDataset) || !strings.Contains(err.Error(), ": "+c.field) {
			t.Errorf("%+v: Validate = %v, want an error naming the %s", c.ds, err, c.field)
		}
	}
	if err := (sink.Dataset{Workspace: "acme:prod", Name: "orders"}).Validate(); err != nil {
		t.Error(err)
	}
	if s := (sink.Dataset{Workspace: "acme:prod", Name: "orders"}).String(); s != "acme:prod/orders" {
		t.Errorf("String = %q", s)
	}
}

// TestFileSinkWorkspaceDirs: every valid workspace ID maps to one path
// component directly under the root, never "." or "..", one-to-one.
func TestFileSinkWorkspaceDirs(t *testing.T) {
	dir := t.TempDir()
	fs, err := sink.OpenFile(dir, sink.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for ws, want := range map[string]string{
		"ws-a":           "ws-a",
		"Acme_1@corp.eu": "Acme_1@corp.eu",
		"acme:prod":      "acme%3Aprod",
		".":              "%2E",
		"..":             "%2E.",
		".hidden":        "%2Ehidden",
		"-rf":            "%2Drf",
		"a-.b":           "a-.b",
		":::":            "%3A%3A%3A",
	} {
		if got := sink.WorkspaceDirName(ws); got != want {
			t.Errorf("WorkspaceDirName(%q) = %q, want %q", ws, got, want)
		}
		p, err := fs.DatasetDir(sink.Dataset{Workspace: ws, Name: "orders"})
		if err != nil {
			t.Fatal(err)
		}
		if p != filepath.Join(dir, want, "orders") {
			t.Errorf("DatasetDir(%s/orders) = %s", ws, p)
		}
	}
	// One-to-one over IDs that differ only where encoding happens.
	seen := map[string]string{}
	for _, ws := range []string{".", "..", "...", "%2E", ".a", "a.", "-", "--", ":", "a:", "a%3A", "-a", "a-", "@", "_"} {
		if sink.ValidateWorkspace(ws) != nil {
			continue
		}
		d := sink.WorkspaceDirName(ws)
		if other, dup := seen[d]; dup {
			t.Errorf("workspaces %q and %q share directory %q", ws, other, d)
		}
		seen[d] = ws
		if d == "." || d == ".." || strings.ContainsAny(d, `/\:`) || d[0] == '.' || d[0] == '-' {
			t.Errorf("workspace %q: unsafe directory name %q", ws, d)
		}
	}
	// Invalid workspaces are refused before touching the file system.
	ctx := ctxT(t)
	for _, ws := range []string{"", "../../etc", "a/b", "a b"} {
		if _, err := fs.Begin(ctx, sink.Dataset{Workspace: ws, Name: "orders"}, obj("k"), sink.PlanFor(allTypes())); !errors.Is(err, sink.ErrInvalidDataset) || !strings.Contains(err.Error(), "workspace") {
			t.Errorf("Begin in workspace %q = %v", ws, err)
		}
	}
	// A workspace named ".." stays inside the root.
	w, err := fs.Begin(ctx, sink.Dataset{Workspace: "..", Name: "orders"}, obj("k"), sink.PlanFor(allTypes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, sink.Stats{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "%2E.", "orders")); err != nil {
		t.Errorf("dataset of workspace \"..\": %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dir)); len(ents) != 1 {
		t.Errorf("the root's parent holds %v: something escaped the root", ents)
	}
}

// TestPostgresWorkspaceSchemas: a workspace's tables are in schema
// "ws_<workspace>" (quoted: punctuation and case are kept), workspace IDs
// over 60 bytes are refused naming the workspace, and a ledger table of the
// old layout is upgraded in place.
func TestPostgresWorkspaceSchemas(t *testing.T) {
	ctx := ctxT(t)
	dsn := testenv.Postgres(t)

	// The ledger of an earlier version: no workspace column.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE s3ingest_ledger (
	dataset text NOT NULL, bucket text NOT NULL, key text NOT NULL, version text NOT NULL, size bigint NOT NULL,
	version_id text NOT NULL DEFAULT '', etag text NOT NULL DEFAULT '', last_modified timestamptz,
	rows bigint NOT NULL, rejected bigint NOT NULL, bytes bigint NOT NULL,
	committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (dataset, bucket, key, version, size));
INSERT INTO s3ingest_ledger (dataset, bucket, key, version, size, rows, rejected, bytes) VALUES ('orders', 'bkt', 'k', 'etag-k', 1234, 1, 0, 1)`); err != nil {
		t.Fatal(err)
	}

	pg, err := sink.OpenPostgres(ctx, dsn, sink.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	var pkey string
	if err := conn.QueryRow(ctx, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 's3ingest_ledger'::regclass AND contype = 'p'`).Scan(&pkey); err != nil {
		t.Fatal(err)
	}
	if pkey != "PRIMARY KEY (workspace, dataset, bucket, key, version, size)" {
		t.Errorf("ledger primary key after upgrade: %s", pkey)
	}
	var oldWS string
	if err := conn.QueryRow(ctx, `SELECT workspace FROM s3ingest_ledger WHERE dataset = 'orders'`).Scan(&oldWS); err != nil || oldWS != "" {
		t.Errorf("old ledger row: workspace %q, %v", oldWS, err)
	}
	// Opening again leaves the upgraded table alone.
	pg2, err := sink.OpenPostgres(ctx, dsn, sink.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pg2.Close()

	s := &schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.Int64}}}
	for _, ws := range []string{"acme:prod@eu.1", "..", "Acme", "acme", strings.Repeat("w", sink.MaxPostgresWorkspaceID)} {
		ds := sink.Dataset{Workspace: ws, Name: "orders"}
		// The old layout's ledger row (same dataset name and object) does
		// not count for any workspace.
		if seen, err := pg.Seen(ctx, ds, obj("k")); err != nil || seen {
			t.Fatalf("%s: Seen = %v, %v", ds, seen, err)
		}
		w, err := pg.Begin(ctx, ds, obj("k"), sink.PlanFor(s))
		if err != nil {
			t.Fatalf("%s: %v", ds, err)
		}
		b := schema.NewBatch(s, 1)
		b.Cols[0].AppendInt(int64(len(ws)))
		b.Lines = append(b.Lines, 2)
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx, sink.Stats{}); err != nil {
			t.Fatal(err)
		}
		var n, id int64
		q := `SELECT count(*), max(id) FROM ` + pgx.Identifier{"ws_" + ws, "orders"}.Sanitize()
		if err := conn.QueryRow(ctx, q).Scan(&n, &id); err != nil || n != 1 || id != int64(len(ws)) {
			t.Errorf("%s: %s = %d rows, id %d, %v", ds, q, n, id, err)
		}
		var hasRejects bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{"ws_" + ws, "orders_rejects"}.Sanitize()).Scan(&hasRejects); err != nil || !hasRejects {
			t.Errorf("%s: no rejects table in its schema (%v)", ds, err)
		}
	}
	// Nothing landed in the search_path's schema.
	var public int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('s3ingest_ledger', 's3ingest_datasets', 's3ingest_dataset_history')`).Scan(&public); err != nil || public != 0 {
		t.Errorf("%d tables in public (%v)", public, err)
	}

	long := sink.Dataset{Workspace: strings.Repeat("w", sink.MaxPostgresWorkspaceID+1), Name: "orders"}
	for name, err := range map[string]error{
		"Seen":  func() error { _, err := pg.Seen(ctx, long, obj("k")); return err }(),
		"Begin": func() error { _, err := pg.Begin(ctx, long, obj("k"), sink.PlanFor(s)); return err }(),
	} {
		if !errors.Is(err, sink.ErrInvalidDataset) || !permanent(err) || !strings.Contains(err.Error(), "workspace") ||
			!strings.Contains(err.Error(), fmt.Sprintf("at most %d", sink.MaxPostgresWorkspaceID)) {
			t.Errorf("%s with a %d-byte workspace: %v", name, len(long.Workspace), err)
		}
	}
}

// TestPostgresConcurrentNewWorkspace: the first Begins of several datasets
// of a new workspace race to create its schema; none fails.
func TestPostgresConcurrentNewWorkspace(t *testing.T) {
	ctx := ctxT(t)
	pg, err := sink.OpenPostgres(ctx, testenv.Postgres(t), sink.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	s := &schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.Int64}}}
	errs := make(chan error, 8)
	for i := range cap(errs) {
		go func() {
			w, err := pg.Begin(ctx, sink.Dataset{Workspace: "ws-new", Name: fmt.Sprintf("d%d", i%4)}, obj(fmt.Sprintf("o%d", i)), sink.PlanFor(s))
			if err == nil {
				err = w.Commit(ctx, sink.Stats{})
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
