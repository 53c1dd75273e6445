package sink_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// TestPostgresAddColumnApart: a new column is added in a short transaction
// of its own before the object's, so while the object that added it is
// still loading (begun, rows copied, not committed) other writers of the
// dataset begin, write and commit, with the old columns or with the new
// one; the column stays, with its history, when its object is aborted; a
// concurrent incompatible change is still a *SchemaConflictError, adding
// nothing.
func TestPostgresAddColumnApart(t *testing.T) {
	ctx := ctxT(t)
	pg := openPG(t, sink.PostgresOptions{LockTimeout: 20 * time.Second})
	ds := dset("addapart")
	id, v := col("id", schema.Int64), col("v", schema.String)
	first := sink.Plan{Columns: []sink.Column{id, v}, Settings: sink.Settings{}.WithDefaults(), Change: &sink.SchemaChange{Version: 1, Reason: "created"}}
	if err := commitPlan(ctx, pg, ds, obj("a.csv"), first, [][]any{{1, "a"}}); err != nil {
		t.Fatal(err)
	}
	plan := func(base int64, cols ...sink.Column) sink.Plan {
		p := sink.Plan{Base: base, Columns: append([]sink.Column{id, v}, cols...), Settings: sink.Settings{}.WithDefaults()}
		if len(cols) > 0 {
			p.Change = &sink.SchemaChange{Version: base + 1, Added: cols, Reason: "new columns"}
		}
		return p
	}
	extra := col("extra", schema.Int64)

	// The object that adds extra: begun and written, not committed.
	w, err := pg.Begin(ctx, ds, obj("b.csv"), plan(1, extra))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(ctx)
	b := schema.NewBatch(sink.ColumnsSchema(plan(1, extra).Columns), 1)
	b.Cols[0].AppendInt(2)
	b.Cols[1].AppendString("b")
	b.Cols[2].AppendInt(20)
	b.Lines = append(b.Lines, 2)
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}

	// Other writers are not blocked by it (bounded: a blocked one fails).
	bounded := func(name string, o sink.ObjectRef, p sink.Plan, rows [][]any) {
		t.Helper()
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := commitPlan(bctx, pg, ds, o, p, rows); err != nil {
			t.Fatalf("%s while the column's object is loading: %v", name, err)
		}
	}
	bounded("a writer with the old columns", obj("c.csv"), plan(1), [][]any{{3, "c"}})
	bounded("a writer with the new column", obj("d.csv"), plan(2), [][]any{{4, "d"}})
	bounded("a writer with the new column", obj("d2.csv"), sink.Plan{Base: 2, Columns: []sink.Column{id, v, extra}, Settings: sink.Settings{}.WithDefaults()}, [][]any{{5, "d2", 50}})

	if err := w.Commit(ctx, sink.Stats{}); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(pgQuery(t, pg, `SELECT id, v, extra FROM "ws_ws-test".addapart ORDER BY id`))
	if want := "[[1 a <nil>] [2 b 20] [3 c <nil>] [4 d <nil>] [5 d2 50]]"; got != want {
		t.Errorf("rows = %s, want %s", got, want)
	}

	// A column added by an object that then fails stays, recorded.
	more := col("more", schema.String)
	w2, err := pg.Begin(ctx, ds, obj("e.csv"), plan(2, extra, more))
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := pg.Dataset(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Column("more"); info.Version != 3 || c == nil || !c.Nullable || c.AddedBy == "" {
		t.Errorf("after an aborted object that added a column: version %d, column %+v; want version 3, the column, nullable, added by e.csv", info.Version, c)
	}
	hist, err := pg.History(ctx, ds)
	if err != nil || len(hist) != 3 || columnNames(hist[1].Added)[0] != "extra" || len(hist[2].Added) != 1 || hist[2].Added[0].Name != "more" {
		t.Errorf("history = %+v, %v", hist, err)
	}

	// extra is int64 now: a reconciled plan with extra as string and
	// another new column conflicts and adds nothing.
	other := col("other", schema.Bool)
	bad := plan(1, col("extra", schema.String), other)
	_, err = pg.Begin(ctx, ds, obj("f.csv"), bad)
	var conflict *sink.SchemaConflictError
	if !errors.As(err, &conflict) || conflict.Column != "extra" || permanent(err) {
		t.Fatalf("Begin with a conflicting plan = %v, want a transient *SchemaConflictError on extra", err)
	}
	if info, err := pg.Dataset(ctx, ds); err != nil || info.Column("other") != nil || info.Version != 3 {
		t.Errorf("after the conflict: %+v, %v; want no column other, version 3", info, err)
	}
}
