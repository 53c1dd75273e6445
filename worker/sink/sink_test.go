package sink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// allTypes is a schema with every column type, nullable except id.
func allTypes() *schema.Schema {
	return &schema.Schema{Fields: []schema.Field{
		{Name: "id", Type: schema.Int64},
		{Name: "flag", Type: schema.Bool, Nullable: true},
		{Name: "n", Type: schema.Int64, Nullable: true},
		{Name: "x", Type: schema.Float64, Nullable: true},
		{Name: "day", Type: schema.Date, Nullable: true},
		{Name: "at", Type: schema.Timestamp, Nullable: true},
		{Name: "Name With Space", Type: schema.String, Nullable: true},
		{Name: "doc.nested", Type: schema.JSON, Nullable: true},
	}}
}

type row struct {
	flag *bool
	n    *int64
	x    *float64
	day  *int64
	at   *int64
	s    *string
	doc  *string
}

func ptr[T any](v T) *T { return &v }

// testRows covers edge values of every type and a null in every nullable
// column.
var testRows = []row{
	{flag: ptr(true), n: ptr(int64(math.MaxInt64)), x: ptr(1.5), day: ptr(int64(0)), at: ptr(int64(0)), s: ptr("plain"), doc: ptr(`{"a":1}`)},
	{flag: ptr(false), n: ptr(int64(math.MinInt64)), x: ptr(-2.25e-300), day: ptr(int64(-25567)), at: ptr(int64(-1)), s: ptr(""), doc: ptr(`[1,"two",null]`)},
	{}, // all null
	{flag: ptr(true), n: ptr(int64(42)), x: ptr(math.Inf(-1)), day: ptr(int64(2932896)), at: ptr(int64(1700000000123456)), s: ptr("héllo, \"wörld\"\n\ttab ✓ 日本"), doc: ptr(`"just a string"`)},
	{n: ptr(int64(-7)), x: ptr(math.MaxFloat64), day: ptr(int64(19000)), at: ptr(int64(-2208988800000001)), s: ptr("O'Reilly; DROP TABLE x;--"), doc: ptr(`{"k":{"deep":[true,false]}}`)},
}

// fillBatch builds a batch of testRows (ids 0..n-1 plus offset).
func fillBatch(s *schema.Schema, rows []row, idOffset int64) *schema.Batch {
	b := schema.NewBatch(s, len(rows))
	for i, r := range rows {
		b.Cols[0].AppendInt(idOffset + int64(i))
		appendOpt(&b.Cols[1], r.flag, func(v *schema.Vector, x bool) { v.AppendBool(x) })
		appendOpt(&b.Cols[2], r.n, func(v *schema.Vector, x int64) { v.AppendInt(x) })
		appendOpt(&b.Cols[3], r.x, func(v *schema.Vector, x float64) { v.AppendFloat(x) })
		appendOpt(&b.Cols[4], r.day, func(v *schema.Vector, x int64) { v.AppendInt(x) })
		appendOpt(&b.Cols[5], r.at, func(v *schema.Vector, x int64) { v.AppendInt(x) })
		appendOpt(&b.Cols[6], r.s, func(v *schema.Vector, x string) { v.AppendString(x) })
		appendOpt(&b.Cols[7], r.doc, func(v *schema.Vector, x string) { v.AppendString(x) })
		b.Lines = append(b.Lines, int64(i+2))
	}
	return b
}

func appendOpt[T any](v *schema.Vector, p *T, f func(*schema.Vector, T)) {
	if p == nil {
		v.AppendNull()
		return
	}
	f(v, *p)
}

// wantRows returns the batch's rows in schema.Vector.Value form.
func wantRows(b *schema.Batch) [][]any {
	out := make([][]any, b.Len())
	for i := range out {
		out[i] = b.Row(i)
	}
	return out
}

// testWS is the workspace of the tests' datasets; its FileSink directory
// and PostgreSQL schema are "ws-test" and "ws_ws-test".
const testWS = "ws-test"

// dset names dataset name of testWS.
func dset(name string) sink.Dataset { return sink.Dataset{Workspace: testWS, Name: name} }

func obj(key string) sink.ObjectRef {
	return sink.ObjectRef{Bucket: "bkt", Key: key, ETag: "etag-" + key, Size: 1234, LastModified: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// ---- sinks under test ---------------------------------------------------------

type target struct {
	name string
	sink sink.Sink
	// rows reads a dataset back, ordered by id, in Value form.
	rows func(t *testing.T, ds sink.Dataset) [][]any
	// rejects reads back the dataset's rejects.
	rejects func(t *testing.T, ds sink.Dataset) []sink.Reject
	// ledger lists the keys of the dataset's ledger entries, sorted.
	ledger func(t *testing.T, ds sink.Dataset) []string
	// project reads the columns of s (by name) of every row of a dataset,
	// ordered by the first one, in Value form.
	project func(t *testing.T, ds sink.Dataset, s *schema.Schema) [][]any
}

func fileTarget(t *testing.T) target {
	dir := t.TempDir()
	s, err := sink.Open(ctxT(t), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	read := func(t *testing.T, ds sink.Dataset) *sink.DatasetContents {
		t.Helper()
		p, err := s.(*sink.FileSink).DatasetDir(ds)
		if err != nil {
			t.Fatal(err)
		}
		c, err := sink.ReadDataset(p)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return target{
		name: "file",
		sink: s,
		rows: func(t *testing.T, ds sink.Dataset) [][]any {
			c := read(t, ds)
			sortByID(c.Rows)
			return c.Rows
		},
		rejects: func(t *testing.T, ds sink.Dataset) []sink.Reject {
			return read(t, ds).Rejects
		},
		ledger: func(t *testing.T, ds sink.Dataset) []string {
			var keys []string
			for _, e := range read(t, ds).Objects {
				if e.Workspace != ds.Workspace || e.Dataset != ds.Name {
					t.Errorf("ledger entry of %s names %s/%s", ds, e.Workspace, e.Dataset)
				}
				keys = append(keys, e.Object.Key)
			}
			slices.Sort(keys)
			return keys
		},
		project: func(t *testing.T, ds sink.Dataset, s *schema.Schema) [][]any {
			c := read(t, ds)
			out := make([][]any, len(c.Rows))
			for i, r := range c.Rows {
				out[i] = make([]any, len(s.Fields))
				for j, f := range s.Fields {
					k := c.Schema.Index(f.Name)
					if k < 0 {
						t.Fatalf("%s has no column %q: %s", ds, f.Name, c.Schema)
					}
					if got := c.Schema.Fields[k].Type; got != f.Type {
						t.Fatalf("%s: column %q is %s, want %s", ds, f.Name, got, f.Type)
					}
					out[i][j] = r[k]
				}
			}
			sortByFirst(out)
			return out
		},
	}
}

func pgTarget(t *testing.T) target {
	dsn := testenv.Postgres(t)
	s, err := sink.Open(ctxT(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pg := s.(*sink.Postgres)
	return target{
		name: "postgres",
		sink: s,
		rows: func(t *testing.T, ds sink.Dataset) [][]any {
			return pgRows(t, pg, ds, allTypes())
		},
		project: func(t *testing.T, ds sink.Dataset, s *schema.Schema) [][]any {
			return pgRows(t, pg, ds, s)
		},
		ledger: func(t *testing.T, ds sink.Dataset) []string {
			rows, err := pg.Pool().Query(ctxT(t), `SELECT key FROM s3ingest_ledger WHERE workspace = $1 AND dataset = $2 ORDER BY key`, ds.Workspace, ds.Name)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			return keys
		},
		rejects: func(t *testing.T, ds sink.Dataset) []sink.Reject {
			rows, err := pg.Pool().Query(ctxT(t), `SELECT coalesce(line, 0), coalesce("row", 0), coalesce("column", ''), coalesce(value, ''), error FROM `+
				pgx.Identifier{sink.PostgresSchemaName(ds.Workspace), ds.Name + sink.RejectsSuffix}.Sanitize()+` ORDER BY line, "row"`)
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
				return nil // no table: an aborted first writer leaves none
			}
			if err != nil {
				t.Fatal(err)
			}
			var out []sink.Reject
			for rows.Next() {
				var r sink.Reject
				if err := rows.Scan(&r.Line, &r.Row, &r.Column, &r.Value, &r.Error); err != nil {
					t.Fatal(err)
				}
				out = append(out, r)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		},
	}
}

func targets(t *testing.T) []func(*testing.T) target {
	return []func(*testing.T) target{fileTarget, pgTarget}
}

func forEachSink(t *testing.T, f func(t *testing.T, tg target)) {
	for _, mk := range targets(t) {
		name := "file"
		if reflect.ValueOf(mk).Pointer() == reflect.ValueOf(pgTarget).Pointer() {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, mk(t))
		})
	}
}

func sortByID(rows [][]any) {
	slicesSortFunc(rows, func(a, b []any) int {
		x, y := a[0].(int64), b[0].(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
}

// sortByFirst orders rows by their first value (int64 or string; nulls
// first).
func sortByFirst(rows [][]any) {
	key := func(v any) string {
		switch x := v.(type) {
		case nil:
			return ""
		case int64:
			return fmt.Sprintf("i%020d", x)
		default:
			return fmt.Sprintf("s%v", x)
		}
	}
	slicesSortFunc(rows, func(a, b []any) int { return strings.Compare(key(a[0]), key(b[0])) })
}

// pgRows reads a table in schema order (fields of s), ordered by id, in
// schema.Vector.Value form. jsonb comes back normalised by PostgreSQL, so
// JSON is compared after re-encoding both sides (see normJSON).
func pgRows(t *testing.T, pg *sink.Postgres, ds sink.Dataset, s *schema.Schema) [][]any {
	t.Helper()
	cols := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		cols[i] = pgx.Identifier{f.Name}.Sanitize()
	}
	rows, err := pg.Pool().Query(ctxT(t), "SELECT "+strings.Join(cols, ", ")+" FROM "+pgx.Identifier{sink.PostgresSchemaName(ds.Workspace), ds.Name}.Sanitize()+" ORDER BY 1")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return nil // no table: an aborted first writer leaves none
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		dst := make([]any, len(s.Fields))
		holders := make([]any, len(s.Fields))
		for i, f := range s.Fields {
			switch f.Type {
			case schema.Bool:
				holders[i] = new(pgtype.Bool)
			case schema.Int64:
				holders[i] = new(pgtype.Int8)
			case schema.Float64:
				holders[i] = new(pgtype.Float8)
			case schema.Date:
				holders[i] = new(pgtype.Date)
			case schema.Timestamp:
				holders[i] = new(pgtype.Timestamptz)
			default:
				holders[i] = new(pgtype.Text)
			}
		}
		if err := rows.Scan(holders...); err != nil {
			t.Fatal(err)
		}
		for i, f := range s.Fields {
			switch h := holders[i].(type) {
			case *pgtype.Bool:
				if h.Valid {
					dst[i] = h.Bool
				}
			case *pgtype.Int8:
				if h.Valid {
					dst[i] = h.Int64
				}
			case *pgtype.Float8:
				if h.Valid {
					dst[i] = h.Float64
				}
			case *pgtype.Date:
				if h.Valid {
					dst[i] = schema.FormatDate(schema.DateFromTime(h.Time))
				}
			case *pgtype.Timestamptz:
				if h.Valid {
					dst[i] = schema.FormatTimestamp(h.Time.UnixMicro())
				}
			case *pgtype.Text:
				if h.Valid {
					if f.Type == schema.JSON {
						dst[i] = json.RawMessage(h.String)
					} else {
						dst[i] = h.String
					}
				}
			}
		}
		out = append(out, dst)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// normJSON re-encodes json.RawMessage values so that formatting differences
// (PostgreSQL's jsonb normalises whitespace and key order) do not matter.
func normJSON(rows [][]any) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = make([]any, len(r))
		for j, v := range r {
			if m, ok := v.(json.RawMessage); ok {
				var x any
				if err := json.Unmarshal(m, &x); err != nil {
					panic(err)
				}
				b, _ := json.Marshal(x)
				v = string(b)
			}
			out[i][j] = v
		}
	}
	return out
}

func equalRows(t *testing.T, got, want [][]any, exactJSON bool) {
	t.Helper()
	if !exactJSON {
		got, want = normJSON(got), normJSON(want)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d:\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("row %d:\ngot  %#v\nwant %#v", i, got[i], want[i])
		}
	}
}

// ---- tests --------------------------------------------------------------------

func TestRoundTripAllTypes(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		s := allTypes()
		o := obj("all/types.csv")
		if seen, err := seen(ctx, tg.sink, dset("types"), o); err != nil || seen {
			t.Fatalf("Seen before commit = %v, %v", seen, err)
		}
		w, err := tg.sink.Begin(ctx, dset("types"), o, sink.PlanFor(s))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort(ctx)
		// Two batches through one reused Batch, as parsers do.
		b := fillBatch(s, testRows, 0)
		want := wantRows(b)
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.Reset()
		b2 := fillBatch(s, testRows[:2], 100)
		want = append(want, wantRows(b2)...)
		if err := w.Write(ctx, b2); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, schema.NewBatch(s, 0)); err != nil { // empty batch
			t.Fatal(err)
		}
		if err := w.Reject(ctx, sink.Reject{Line: 9, Column: "n", Value: "abc", Error: "wrong type: not an integer"}); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx, sink.Stats{Rows: int64(len(want)), Rejected: 1, Bytes: 1234}); err != nil {
			t.Fatal(err)
		}
		if seen, err := seen(ctx, tg.sink, dset("types"), o); err != nil || !seen {
			t.Fatalf("Seen after commit = %v, %v", seen, err)
		}
		// Another version of the same key is a different ledger identity.
		o2 := o
		o2.ETag = "other"
		if seen, err := seen(ctx, tg.sink, dset("types"), o2); err != nil || seen {
			t.Fatalf("Seen(other version) = %v, %v", seen, err)
		}
		equalRows(t, tg.rows(t, dset("types")), want, tg.name == "file")
		rej := tg.rejects(t, dset("types"))
		if want := []sink.Reject{{Line: 9, Column: "n", Value: "abc", Error: "wrong type: not an integer"}}; !reflect.DeepEqual(rej, want) {
			t.Errorf("rejects = %+v, want %+v", rej, want)
		}
		// Commit after Commit is an error; Abort after Commit a no-op.
		if err := w.Commit(ctx, sink.Stats{}); !errors.Is(err, sink.ErrClosed) {
			t.Errorf("second Commit = %v, want ErrClosed", err)
		}
		if err := w.Abort(ctx); err != nil {
			t.Errorf("Abort after Commit = %v", err)
		}
		if err := w.Write(ctx, b2); !errors.Is(err, sink.ErrClosed) {
			t.Errorf("Write after Commit = %v, want ErrClosed", err)
		}
	})
}

func TestAbortLeavesNothing(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		s := allTypes()
		o := obj("aborted.csv")
		w, err := tg.sink.Begin(ctx, dset("ab"), o, sink.PlanFor(s))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, fillBatch(s, testRows, 0)); err != nil {
			t.Fatal(err)
		}
		if err := w.Reject(ctx, sink.Reject{Line: 3, Error: "bad"}); err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx, sink.Stats{}); !errors.Is(err, sink.ErrClosed) {
			t.Errorf("Commit after Abort = %v, want ErrClosed", err)
		}
		if seen, err := seen(ctx, tg.sink, dset("ab"), o); err != nil || seen {
			t.Fatalf("Seen after abort = %v, %v", seen, err)
		}
		if rows := tg.rows(t, dset("ab")); len(rows) != 0 {
			t.Errorf("rows after abort: %v", rows)
		}
		if rej := tg.rejects(t, dset("ab")); len(rej) != 0 {
			t.Errorf("rejects after abort: %v", rej)
		}
	})
}

func TestCommitTwiceNoDuplicates(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		s := allTypes()
		o := obj("twice.csv")
		// Sequential: a retry that did not check Seen.
		for i := 0; i < 2; i++ {
			w, err := tg.sink.Begin(ctx, dset("dup"), o, sink.PlanFor(s))
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, fillBatch(s, testRows, 0)); err != nil {
				t.Fatal(err)
			}
			if err := w.Reject(ctx, sink.Reject{Line: 77, Error: "bad"}); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(ctx, sink.Stats{Rows: int64(len(testRows))}); err != nil {
				t.Fatalf("commit %d: %v", i, err)
			}
			if got, want := sink.Discarded(w), i == 1; got != want {
				t.Errorf("sequential commit %d: Discarded() = %v, want %v", i, got, want)
			}
		}
		// Concurrent: two writers of the same object version interleaved.
		o2 := obj("twice-concurrent.csv")
		var ws []sink.Writer
		for i := 0; i < 2; i++ {
			w, err := tg.sink.Begin(ctx, dset("dup"), o2, sink.PlanFor(s))
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, fillBatch(s, testRows, 1000)); err != nil {
				t.Fatal(err)
			}
			ws = append(ws, w)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(ws))
		for i, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = w.Commit(ctx, sink.Stats{})
			}()
		}
		wg.Wait()
		discarded := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("concurrent commit %d: %v", i, err)
			}
			if sink.Discarded(ws[i]) {
				discarded++
			}
		}
		if discarded != 1 {
			t.Errorf("%d of 2 concurrent commits of one object version report Discarded, want exactly 1", discarded)
		}
		rows := tg.rows(t, dset("dup"))
		if len(rows) != 2*len(testRows) {
			t.Fatalf("got %d rows, want %d (one copy per object version)", len(rows), 2*len(testRows))
		}
		if rej := tg.rejects(t, dset("dup")); len(rej) != 1 {
			t.Errorf("got %d rejects, want 1: %+v", len(rej), rej)
		}
	})
}

func TestWriteValidation(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		s := allTypes()
		w, err := tg.sink.Begin(ctx, dset("val"), obj("v.csv"), sink.PlanFor(s))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort(ctx)

		// A null in the non-nullable id column.
		b := fillBatch(s, testRows[:2], 0)
		b.Cols[0].Nulls[1] = true
		err = w.Write(ctx, b)
		var ve *sink.ValueError
		if !errors.As(err, &ve) || ve.Column != "id" || ve.Line != 3 || !permanent(err) {
			t.Fatalf("null id: err = %v, want a permanent *ValueError for column id, line 3", err)
		}
		// Invalid JSON.
		b = fillBatch(s, testRows[:1], 0)
		b.Cols[7].Truncate(0)
		b.Cols[7].AppendString(`{"a":`)
		if err := w.Write(ctx, b); !errors.As(err, &ve) || ve.Column != "doc.nested" {
			t.Fatalf("bad JSON: err = %v", err)
		}
		// Invalid UTF-8 split across two rows (each row invalid, the
		// concatenation valid).
		b = fillBatch(s, testRows[:2], 0)
		b.Cols[6].Truncate(0)
		b.Cols[6].AppendBytes([]byte{'a', 0xc3})
		b.Cols[6].AppendBytes([]byte{0xa9})
		if err := w.Write(ctx, b); !errors.As(err, &ve) || ve.Column != "Name With Space" || ve.Row != 0 {
			t.Fatalf("split UTF-8: err = %v", err)
		}
		// A batch of another schema.
		other := &schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.String}}}
		ob := schema.NewBatch(other, 1)
		ob.Cols[0].AppendString("x")
		ob.Lines = append(ob.Lines, 1)
		if err := w.Write(ctx, ob); !errors.Is(err, sink.ErrInvalidSchema) {
			t.Fatalf("wrong schema: err = %v", err)
		}
		// Nothing of the failed batches was written; the writer still works.
		if err := w.Write(ctx, fillBatch(s, testRows, 0)); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx, sink.Stats{}); err != nil {
			t.Fatal(err)
		}
		if got := tg.rows(t, dset("val")); len(got) != len(testRows) {
			t.Errorf("got %d rows, want %d", len(got), len(testRows))
		}
	})
}

func TestPostgresRejectsNUL(t *testing.T) {
	tg := pgTarget(t)
	ctx := ctxT(t)
	s := allTypes()
	w, err := tg.sink.Begin(ctx, dset("nul"), obj("n.csv"), sink.PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(ctx)
	b := fillBatch(s, testRows[:1], 0)
	b.Cols[6].Truncate(0)
	b.Cols[6].AppendString("a\x00b")
	var ve *sink.ValueError
	if err := w.Write(ctx, b); !errors.As(err, &ve) || !strings.Contains(ve.Reason, "NUL") {
		t.Fatalf("NUL in text: err = %v", err)
	}
	b = fillBatch(s, testRows[:1], 0)
	b.Cols[7].Truncate(0)
	b.Cols[7].AppendString(`{"a":"x\u0000y"}`)
	if err := w.Write(ctx, b); !errors.As(err, &ve) || !strings.Contains(ve.Reason, `\u0000`) {
		t.Fatalf(`\u0000 in jsonb: err = %v`, err)
	}
	b = fillBatch(s, testRows[:1], 0)
	b.Cols[7].Truncate(0)
	b.Cols[7].AppendString(`{"a":"x\\u0000y"}`) // an escaped backslash: fine
	if err := w.Write(ctx, b); err != nil {
		t.Fatalf(`escaped backslash before u0000: %v`, err)
	}
}

func TestFileSinkCrashLeavesNoVisibleFile(t *testing.T) {
	dir := t.TempDir()
	fs, err := sink.OpenFile(dir, sink.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	s := allTypes()
	o := obj("crash.csv")
	// A "crashed" writer: written, never committed nor aborted.
	w, err := fs.Begin(ctx, dset("crash"), o, sink.PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, fillBatch(s, testRows, 0)); err != nil {
		t.Fatal(err)
	}
	if err := w.Reject(ctx, sink.Reject{Line: 1, Error: "x"}); err != nil {
		t.Fatal(err)
	}
	if seen, _ := fs.Seen(ctx, dset("crash"), o); seen {
		t.Fatal("uncommitted object is Seen")
	}
	visible, _ := filepath.Glob(filepath.Join(dir, testWS, "crash", "*.parquet"))
	rejects, _ := filepath.Glob(filepath.Join(dir, testWS, "crash", "_rejects", "*"))
	if len(visible)+len(rejects) != 0 {
		t.Fatalf("uncommitted writer left visible files: %v %v", visible, rejects)
	}
	ds, err := sink.ReadDataset(filepath.Join(dir, testWS, "crash"))
	if err != nil || len(ds.Rows) != 0 {
		t.Fatalf("ReadDataset = %v rows, %v", len(ds.Rows), err)
	}
	if _, err := fs.Dataset(ctx, dset("crash")); !errors.Is(err, sink.ErrDatasetNotFound) {
		t.Fatalf("Dataset after an abandoned first writer = %v, want ErrDatasetNotFound", err)
	}
	// The retry commits under the deterministic name.
	w2, err := fs.Begin(ctx, dset("crash"), o, sink.PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Write(ctx, fillBatch(s, testRows, 0)); err != nil {
		t.Fatal(err)
	}
	if err := w2.Commit(ctx, sink.Stats{Bytes: 1234}); err != nil {
		t.Fatal(err)
	}
	want, _ := fs.PartPath(dset("crash"), o)
	visible, _ = filepath.Glob(filepath.Join(dir, testWS, "crash", "*.parquet"))
	if len(visible) != 1 || visible[0] != want {
		t.Fatalf("visible files %v, want [%s]", visible, want)
	}
	entry, sch, err := sink.ReadPart(want)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Object.Key != o.Key || entry.Object.ETag != o.ETag || entry.Rows != int64(len(testRows)) || entry.Bytes != 1234 || entry.CommittedAt.IsZero() {
		t.Errorf("ledger entry = %+v", entry)
	}
	if !sch.Equal(s) {
		t.Errorf("schema in metadata = %s, want %s", sch, s)
	}
	// The stale temp file of the crashed writer is swept by a later sink
	// once old enough.
	tmps, _ := filepath.Glob(filepath.Join(dir, testWS, "crash", ".tmp", "*"))
	if len(tmps) != 2 {
		t.Fatalf("temp files = %v, want the crashed writer's 2", tmps)
	}
	old := time.Now().Add(-48 * time.Hour)
	for _, p := range tmps {
		os.Chtimes(p, old, old)
	}
	fs2, _ := sink.OpenFile(dir, sink.FileOptions{})
	w3, err := fs2.Begin(ctx, dset("crash"), obj("other.csv"), sink.PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	w3.Abort(ctx)
	if tmps, _ := filepath.Glob(filepath.Join(dir, testWS, "crash", ".tmp", "*")); len(tmps) != 0 {
		t.Errorf("stale temp files not swept: %v", tmps)
	}
}

func TestFileSinkColumnOrderAndRowGroups(t *testing.T) {
	dir := t.TempDir()
	fs, err := sink.OpenFile(dir, sink.FileOptions{RowGroupRows: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	// Names deliberately out of alphabetical order.
	s := &schema.Schema{Fields: []schema.Field{
		{Name: "zeta", Type: schema.Int64}, {Name: "alpha", Type: schema.String}, {Name: "mid", Type: schema.Bool, Nullable: true},
	}}
	w, err := fs.Begin(ctx, dset("order"), obj("o.csv"), sink.PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	b := schema.NewBatch(s, 8)
	var want [][]any
	for i := 0; i < 8; i++ {
		b.Cols[0].AppendInt(int64(i))
		b.Cols[1].AppendString(strings.Repeat("x", i))
		if i%2 == 0 {
			b.Cols[2].AppendNull()
		} else {
			b.Cols[2].AppendBool(i%3 == 0)
		}
		b.Lines = append(b.Lines, int64(i+1))
	}
	want = wantRows(b)
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, b); err != nil { // second batch: flushes row groups
		t.Fatal(err)
	}
	if err := w.Commit(ctx, sink.Stats{}); err != nil {
		t.Fatal(err)
	}
	ds, err := sink.ReadDataset(filepath.Join(dir, testWS, "order"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Schema.Names(); !reflect.DeepEqual(got, []string{"zeta", "alpha", "mid"}) {
		t.Errorf("column order = %v", got)
	}
	equalRows(t, ds.Rows, append(want, want...), true)
	p, _ := fs.PartPath(dset("order"), obj("o.csv"))
	if n := parquetRowGroups(t, p); n != 2 {
		t.Errorf("row groups = %d, want 2 (8 rows per flush check, limit 3)", n)
	}
}

func TestDatasetNames(t *testing.T) {
	long := strings.Repeat("a", sink.MaxDatasetName)
	cases := []struct {
		name   string
		ok     bool
		pgOK   bool
		errHas string
	}{
		{"orders", true, true, ""},
		{"Orders_2026-01.v2", true, true, ""},
		{"_private", true, true, ""},
		{"", false, false, "must not be empty"},
		{".", false, false, "must start with"},
		{"..", false, false, "must start with"},
		{".hidden", false, false, "must start with"},
		{"-rf", false, false, "must start with"},
		{"a/b", false, false, `'/'`},
		{"../etc", false, false, "must start with"},
		{"a\\b", false, false, `'\\'`},
		{"tab\tname", false, false, `'\t'`},
		{"naïve", false, false, `'ï'`},
		{"with space", false, false, `' '`},
		{long, true, false, "at most 55"},
		{long + "b", false, false, "at most 128"},
		{"x_rejects", true, false, "reserved"},
		{"s3ingest_ledger", true, false, "reserved"},
	}
	dir := t.TempDir()
	fs, err := sink.OpenFile(dir, sink.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := sink.OpenPostgres(ctxT(t), testenv.Postgres(t), sink.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	ctx := ctxT(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := sink.ValidateDataset(c.name)
			if (err == nil) != c.ok {
				t.Fatalf("ValidateDataset(%q) = %v, want ok=%v", c.name, err, c.ok)
			}
			if err != nil {
				if !errors.Is(err, sink.ErrInvalidDataset) || !strings.Contains(err.Error(), "dataset") || !strings.Contains(err.Error(), c.errHas) {
					t.Errorf("error %q: want ErrInvalidDataset naming the dataset and %q", err, c.errHas)
				}
			}
			_, err = fs.Begin(ctx, dset(c.name), obj("k"), sink.PlanFor(allTypes()))
			if (err == nil) != c.ok {
				t.Errorf("FileSink.Begin(%q) = %v", c.name, err)
			}
			_, err = pg.Seen(ctx, dset(c.name), obj("k"))
			if (err == nil) != c.pgOK {
				t.Errorf("Postgres.Seen(%q) = %v, want ok=%v", c.name, err, c.pgOK)
			}
			if err != nil && !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("Postgres error %q does not mention %q", err, c.errHas)
			}
		})
	}
	// Nothing escaped the workspace's directory, nor the root.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != testWS {
		t.Errorf("root holds %v, want only the workspace directory %s", ents, testWS)
	}
	ents, _ := os.ReadDir(filepath.Dir(dir))
	for _, e := range ents {
		if e.Name() == "etc" {
			t.Errorf("path traversal created %s", e.Name())
		}
	}
}

func TestObjectRefValidation(t *testing.T) {
	ctx := ctxT(t)
	fs, _ := sink.OpenFile(t.TempDir(), sink.FileOptions{})
	for _, o := range []sink.ObjectRef{
		{Key: "k", ETag: "e"},
		{Bucket: "b", ETag: "e"},
		{Bucket: "b", Key: "k"},
		{Bucket: "b", Key: "k", ETag: "e", Size: -1},
	} {
		if _, err := fs.Seen(ctx, dset("ds"), o); !errors.Is(err, sink.ErrInvalidObject) {
			t.Errorf("Seen(%+v) = %v, want ErrInvalidObject", o, err)
		}
	}
	// The ETag is the identity, whether or not the version ID is known
	// (listing reports none, HeadObject does); a different ETag is a
	// different version.
	a := sink.ObjectRef{Bucket: "b", Key: "k", VersionID: "v1", ETag: "e1", Size: 1}
	b := a
	b.VersionID = ""
	pa, _ := fs.PartPath(dset("ds"), a)
	pb, _ := fs.PartPath(dset("ds"), b)
	if pa != pb {
		t.Errorf("same ETag with and without version ID: %s != %s", pa, pb)
	}
	b.ETag = "e2"
	if pb, _ = fs.PartPath(dset("ds"), b); pb == pa {
		t.Errorf("a different ETag gives the same part name")
	}
	d := sink.ObjectRef{Bucket: "b", Key: "k", VersionID: "v1", Size: 1}
	if pd, err := fs.PartPath(dset("ds"), d); err != nil || pd == pa {
		t.Errorf("version ID alone: %s, %v", pd, err)
	}
	c := a
	c.Size = 2
	if pc, _ := fs.PartPath(dset("ds"), c); pc == pa {
		t.Errorf("different size gives the same part name")
	}
}

func TestOpenURLs(t *testing.T) {
	ctx := ctxT(t)
	for _, u := range []string{"s3://bucket/x", "file://relative/path", "file://", "mysql://u@h/db", "", "://bad"} {
		_, err := sink.Open(ctx, u)
		if !errors.Is(err, sink.ErrInvalidURL) || !strings.Contains(err.Error(), u) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL naming the URL", u, err)
		}
	}
	_, err := sink.Open(ctx, "ftp://user:secret@host/x")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open with a password: %v (must not print the password)", err)
	}
	// Both PostgreSQL schemes.
	dsn := testenv.Postgres(t)
	for _, u := range []string{dsn, "postgresql" + strings.TrimPrefix(dsn, "postgres")} {
		s, err := sink.Open(ctx, u)
		if err != nil {
			t.Fatalf("Open(%s): %v", u, err)
		}
		if _, ok := s.(*sink.Postgres); !ok {
			t.Errorf("Open(%s) = %T", u, s)
		}
		s.Close()
	}
	// Relative directories (ingestd's default file://./data) resolve
	// against the working directory.
	wd := t.TempDir()
	t.Chdir(wd)
	for _, u := range []string{"file://./data", "file:rel/dir"} {
		s, err := sink.Open(ctx, u)
		fs, ok := s.(*sink.FileSink)
		if err != nil || !ok || !strings.HasPrefix(fs.Root(), wd) {
			t.Errorf("Open(%s) = %T, %v; want a FileSink under %s", u, s, err, wd)
		}
	}
	// file://localhost/abs is a FileSink too.
	s, err := sink.Open(ctx, "file://localhost"+t.TempDir())
	if _, ok := s.(*sink.FileSink); err != nil || !ok {
		t.Errorf("Open(file://localhost/...) = %T, %v", s, err)
	}
}

func TestPostgresSchemaEvolution(t *testing.T) {
	ctx := ctxT(t)
	dsn := testenv.Postgres(t)
	pg, err := sink.OpenPostgres(ctx, dsn, sink.PostgresOptions{LockTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	v1 := &schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.Int64}, {Name: "name", Type: schema.String, Nullable: true}}}
	commit := func(s *schema.Schema, key string, fill func(b *schema.Batch)) error {
		w, err := pg.Begin(ctx, dset("evo"), obj(key), sink.PlanFor(s))
		if err != nil {
			return err
		}
		defer w.Abort(ctx)
		b := schema.NewBatch(s, 4)
		fill(b)
		if err := w.Write(ctx, b); err != nil {
			return err
		}
		return w.Commit(ctx, sink.Stats{})
	}
	if err := commit(v1, "1.csv", func(b *schema.Batch) {
		b.Cols[0].AppendInt(1)
		b.Cols[1].AppendString("one")
		b.Lines = append(b.Lines, 2)
	}); err != nil {
		t.Fatal(err)
	}
	// v2 drops "name", reorders, and adds "score" and "seen_at".
	v2 := &schema.Schema{Fields: []schema.Field{
		{Name: "score", Type: schema.Float64}, {Name: "id", Type: schema.Int64}, {Name: "seen_at", Type: schema.Timestamp, Nullable: true},
	}}
	if err := commit(v2, "2.csv", func(b *schema.Batch) {
		b.Cols[0].AppendFloat(0.5)
		b.Cols[1].AppendInt(2)
		b.Cols[2].AppendInt(1_000_000)
		b.Lines = append(b.Lines, 2)
	}); err != nil {
		t.Fatal(err)
	}
	all := &schema.Schema{Fields: []schema.Field{
		{Name: "id", Type: schema.Int64}, {Name: "name", Type: schema.String}, {Name: "score", Type: schema.Float64}, {Name: "seen_at", Type: schema.Timestamp},
	}}
	got := pgRows(t, pg, dset("evo"), all)
	want := [][]any{{int64(1), "one", nil, nil}, {int64(2), nil, 0.5, "1970-01-01T00:00:01Z"}}
	equalRows(t, got, want, true)
	// New columns are nullable even if the object's column is not.
	var nullable string
	if err := pg.Pool().QueryRow(ctx, `SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'ws_ws-test' AND table_name = 'evo' AND column_name = 'score'`).Scan(&nullable); err != nil || nullable != "YES" {
		t.Errorf("score is_nullable = %q, %v", nullable, err)
	}

	// An incompatible type fails Begin, naming the column and both types.
	v3 := &schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.String}}}
	_, err = pg.Begin(ctx, dset("evo"), obj("3.csv"), sink.PlanFor(v3))
	if !errors.Is(err, sink.ErrIncompatibleSchema) || !permanent(err) {
		t.Fatalf("incompatible: err = %v", err)
	}
	for _, s := range []string{`"id"`, "bigint", "string", "text", `"ws_ws-test"."evo"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}

	// A NOT NULL column without default that the object lacks.
	if _, err := pg.Pool().Exec(ctx, `ALTER TABLE "ws_ws-test".evo ADD COLUMN must text NOT NULL DEFAULT 'x'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Pool().Exec(ctx, `ALTER TABLE "ws_ws-test".evo ALTER COLUMN must DROP DEFAULT`); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Begin(ctx, dset("evo"), obj("4.csv"), sink.PlanFor(v1)); !errors.Is(err, sink.ErrIncompatibleSchema) || !strings.Contains(err.Error(), `"must"`) {
		t.Fatalf("NOT NULL column missing from the object: err = %v", err)
	}
	if _, err := pg.Pool().Exec(ctx, `ALTER TABLE "ws_ws-test".evo DROP COLUMN must`); err != nil {
		t.Fatal(err)
	}
	// A nullable object column mapped to a NOT NULL table column: rows
	// with nulls are refused before COPY.
	if _, err := pg.Pool().Exec(ctx, `UPDATE "ws_ws-test".evo SET name = '' WHERE name IS NULL; ALTER TABLE "ws_ws-test".evo ALTER COLUMN name SET NOT NULL`); err != nil {
		t.Fatal(err)
	}
	err = commit(v1, "5.csv", func(b *schema.Batch) {
		b.Cols[0].AppendInt(5)
		b.Cols[1].AppendNull()
		b.Lines = append(b.Lines, 7)
	})
	var ve *sink.ValueError
	if !errors.As(err, &ve) || ve.Column != "name" || ve.Line != 7 {
		t.Fatalf("null into NOT NULL: err = %v", err)
	}

	if _, err := pg.Pool().Exec(ctx, `ALTER TABLE "ws_ws-test".evo ALTER COLUMN name DROP NOT NULL`); err != nil {
		t.Fatal(err)
	}

	// ALTER waits for running writers of the dataset; it times out as a
	// transient error rather than blocking forever.
	w, err := pg.Begin(ctx, dset("evo"), obj("6.csv"), sink.PlanFor(v1))
	if err != nil {
		t.Fatal(err)
	}
	b := schema.NewBatch(v1, 1)
	b.Cols[0].AppendInt(6)
	b.Cols[1].AppendString("six")
	b.Lines = append(b.Lines, 2)
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	v4 := &schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.Int64}, {Name: "extra", Type: schema.Bool, Nullable: true}}}
	start := time.Now()
	_, err = pg.Begin(ctx, dset("evo"), obj("7.csv"), sink.PlanFor(v4))
	if err == nil || permanent(err) || !strings.Contains(err.Error(), "lock") {
		t.Errorf("ALTER behind a running writer: err = %v, want a transient lock timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("lock wait took %v", d)
	}
	if err := w.Commit(ctx, sink.Stats{}); err != nil {
		t.Fatal(err)
	}
	w2, err := pg.Begin(ctx, dset("evo"), obj("7.csv"), sink.PlanFor(v4))
	if err != nil {
		t.Fatalf("after the writer committed: %v", err)
	}
	w2.Abort(ctx)
}

func TestPostgresLedgerRow(t *testing.T) {
	ctx := ctxT(t)
	pg, err := sink.OpenPostgres(ctx, testenv.Postgres(t), sink.PostgresOptions{RejectBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	s := allTypes()
	o := sink.ObjectRef{Bucket: "b", Key: "dir/k.json", VersionID: "v-123", ETag: "abc", Size: 99, LastModified: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)}
	w, err := pg.Begin(ctx, dset("led"), o, sink.PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, fillBatch(s, testRows, 0)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ { // more than RejectBatch: flushed in the middle
		if err := w.Reject(ctx, sink.Reject{Line: int64(i + 1), Value: "bad\x00value \xff", Error: "e"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(ctx, sink.Stats{Rows: 5, Rejected: 7, Bytes: 99}); err != nil {
		t.Fatal(err)
	}
	var version, vid, etag string
	var size, rows, rejected, bytes int64
	var lm, at time.Time
	err = pg.Pool().QueryRow(ctx, `SELECT version, version_id, etag, size, rows, rejected, bytes, last_modified, committed_at FROM s3ingest_ledger WHERE workspace = 'ws-test' AND dataset = 'led' AND key = 'dir/k.json'`).
		Scan(&version, &vid, &etag, &size, &rows, &rejected, &bytes, &lm, &at)
	if err != nil {
		t.Fatal(err)
	}
	if version != "abc" || vid != "v-123" || etag != "abc" || size != 99 || rows != int64(len(testRows)) || rejected != 7 || bytes != 99 || !lm.Equal(o.LastModified) || time.Since(at) > time.Minute {
		t.Errorf("ledger row: %s %s %s %d %d %d %d %v %v", version, vid, etag, size, rows, rejected, bytes, lm, at)
	}
	var n int
	var val string
	if err := pg.Pool().QueryRow(ctx, `SELECT count(*), min(value) FROM "ws_ws-test".led_rejects WHERE version = 'abc'`).Scan(&n, &val); err != nil || n != 5 || val != "badvalue \uFFFD" {
		t.Errorf("rejects: %d %q %v", n, val, err)
	}
}

func TestZeroColumns(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		s := &schema.Schema{}
		w, err := tg.sink.Begin(ctx, dset("empty"), obj("empty.csv"), sink.PlanFor(s))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx, sink.Stats{}); err != nil {
			t.Fatal(err)
		}
		if seen, err := seen(ctx, tg.sink, dset("empty"), obj("empty.csv")); !seen || err != nil {
			t.Fatalf("Seen = %v, %v", seen, err)
		}
	})
}

func TestPostgresConcurrentFirstBegin(t *testing.T) {
	ctx := ctxT(t)
	pg, err := sink.OpenPostgres(ctx, testenv.Postgres(t), sink.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	// Several workers start the first objects of a new dataset at once,
	// some with an extra column: one creates the table, the others alter
	// or reuse it; none fails.
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.Int64}}}
			if i%2 == 1 {
				s.Fields = append(s.Fields, schema.Field{Name: fmt.Sprintf("extra%d", i), Type: schema.String, Nullable: true})
			}
			w, err := pg.Begin(ctx, dset("fresh"), obj(fmt.Sprintf("o%d", i)), sink.PlanFor(s))
			if err != nil {
				errs[i] = err
				return
			}
			b := schema.NewBatch(s, 1)
			for c := range b.Cols {
				if c == 0 {
					b.Cols[c].AppendInt(int64(i))
				} else {
					b.Cols[c].AppendString("x")
				}
			}
			b.Lines = append(b.Lines, 1)
			if err := w.Write(ctx, b); err != nil {
				errs[i] = err
				w.Abort(ctx)
				return
			}
			errs[i] = w.Commit(ctx, sink.Stats{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	var n int
	if err := pg.Pool().QueryRow(ctx, `SELECT count(*) FROM "ws_ws-test".fresh`).Scan(&n); err != nil || n != len(errs) {
		t.Errorf("rows = %d, %v", n, err)
	}
	// A dropped rejects table is recreated by the next Begin.
	if _, err := pg.Pool().Exec(ctx, `DROP TABLE "ws_ws-test".fresh_rejects`); err != nil {
		t.Fatal(err)
	}
	s := &schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.Int64}}}
	w, err := pg.Begin(ctx, dset("fresh"), obj("again"), sink.PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Reject(ctx, sink.Reject{Line: 1, Error: "bad"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, sink.Stats{}); err != nil {
		t.Fatal(err)
	}
}

func TestFileSinkRowGroupBytesBound(t *testing.T) {
	dir := t.TempDir()
	fs, err := sink.OpenFile(dir, sink.FileOptions{RowGroupBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	s := allTypes()
	w, err := fs.Begin(ctx, dset("rg"), obj("rg.csv"), sink.PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	b := schema.NewBatch(s, 1000)
	for i := 0; i < 40; i++ {
		b.Reset()
		for j := 0; j < 25; j++ {
			fb := fillBatch(s, testRows, int64(i*1000+j*10))
			for c := range b.Cols {
				for r := 0; r < fb.Len(); r++ {
					appendFrom(&b.Cols[c], &fb.Cols[c], r)
				}
			}
			b.Lines = append(b.Lines, fb.Lines...)
		}
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(ctx, sink.Stats{}); err != nil {
		t.Fatal(err)
	}
	p, _ := fs.PartPath(dset("rg"), obj("rg.csv"))
	if n := parquetRowGroups(t, p); n < 2 {
		t.Errorf("row groups = %d, want several (64 KiB bound)", n)
	}
	ds, err := sink.ReadDataset(filepath.Join(dir, testWS, "rg"))
	if err != nil || len(ds.Rows) != 40*25*len(testRows) {
		t.Fatalf("read back %d rows, %v", len(ds.Rows), err)
	}
}

func appendFrom(dst, src *schema.Vector, i int) {
	if src.Nulls[i] {
		dst.AppendNull()
		return
	}
	switch src.Type {
	case schema.Bool:
		dst.AppendBool(src.Bools[i])
	case schema.Int64, schema.Date, schema.Timestamp:
		dst.AppendInt(src.Ints[i])
	case schema.Float64:
		dst.AppendFloat(src.Floats[i])
	default:
		dst.AppendBytes(src.BytesAt(i))
	}
}

// TestFileSinkMemoryFlat writes 4 and 40 MB of values through one Writer
// with 1 MiB row groups and checks that the peak heap does not grow with
// the amount written.
func TestFileSinkMemoryFlat(t *testing.T) {
	peak := func(batches int) uint64 {
		fs, err := sink.OpenFile(t.TempDir(), sink.FileOptions{RowGroupBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		ctx := ctxT(t)
		s := &schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.Int64}, {Name: "s", Type: schema.String, Nullable: true}}}
		w, err := fs.Begin(ctx, dset("mem"), obj("m"), sink.PlanFor(s))
		if err != nil {
			t.Fatal(err)
		}
		b := schema.NewBatch(s, 8192)
		text := strings.Repeat("abcdefghij", 4)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base, top := ms.HeapAlloc, ms.HeapAlloc
		for i := 0; i < batches; i++ {
			b.Reset()
			for r := 0; r < 8192; r++ {
				b.Cols[0].AppendInt(int64(i*8192 + r))
				b.Cols[1].AppendString(text[:r%40])
				b.Lines = append(b.Lines, int64(r))
			}
			if err := w.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			if i%5 == 0 {
				runtime.ReadMemStats(&ms)
				top = max(top, ms.HeapAlloc)
			}
		}
		if err := w.Commit(ctx, sink.Stats{}); err != nil {
			t.Fatal(err)
		}
		return top - base
	}
	small, large := peak(16), peak(160) // 131 Ki and 1.3 Mi rows
	t.Logf("peak heap growth: %d KiB for 16 batches, %d KiB for 160", small>>10, large>>10)
	if large > 2*small+8<<20 {
		t.Errorf("heap grows with the data written: %d KiB vs %d KiB", large>>10, small>>10)
	}
}

// ---- the dataset contract (issue 8): both sinks ----------------------------------

// col is a nullable column of a plan.
func col(name string, t schema.Type) sink.Column {
	return sink.Column{Name: name, Type: t, Nullable: true}
}

// planOf returns a plan with cols and default settings.
func planOf(cols ...sink.Column) sink.Plan {
	return sink.Plan{Columns: cols, Settings: sink.Settings{}.WithDefaults()}
}

// version returns obj(key) with another ETag: a new version of the key.
func version(key, etag string) sink.ObjectRef {
	o := obj(key)
	o.ETag = etag
	return o
}

// commitPlan writes one batch of rows (one []any per row in the plan's
// column order: nil, int64, float64, string) and the rejects into ds as
// plan says. The error of Begin, Write or Commit is returned.
func commitPlan(ctx context.Context, s sink.Sink, ds sink.Dataset, o sink.ObjectRef, plan sink.Plan, rows [][]any, rejects ...sink.Reject) error {
	w, err := s.Begin(ctx, ds, o, plan)
	if err != nil {
		return err
	}
	defer w.Abort(ctx)
	sch := sink.ColumnsSchema(plan.Columns)
	b := schema.NewBatch(sch, len(rows))
	for i, r := range rows {
		for c, v := range r {
			switch x := v.(type) {
			case nil:
				b.Cols[c].AppendNull()
			case int64:
				b.Cols[c].AppendInt(x)
			case int:
				b.Cols[c].AppendInt(int64(x))
			case float64:
				b.Cols[c].AppendFloat(x)
			case string:
				b.Cols[c].AppendString(x)
			case bool:
				b.Cols[c].AppendBool(x)
			default:
				return fmt.Errorf("commitPlan: value %T", v)
			}
		}
		b.Lines = append(b.Lines, int64(i+2))
	}
	if err := w.Write(ctx, b); err != nil {
		return err
	}
	for _, r := range rejects {
		if err := w.Reject(ctx, r); err != nil {
			return err
		}
	}
	return w.Commit(ctx, sink.Stats{Rows: int64(len(rows)), Rejected: int64(len(rejects))})
}

// columnNames returns the names of a dataset's columns.
func columnNames(cols []sink.Column) []string {
	var out []string
	for _, c := range cols {
		out = append(out, c.Name)
	}
	return out
}

// TestCatalogCreate: the first commit creates the dataset record, version
// 1, with the plan's columns and settings, one history entry, and the
// workspace lists it.
func TestCatalogCreate(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		ds := dset("cat-create")
		if _, err := tg.sink.Dataset(ctx, ds); !errors.Is(err, sink.ErrDatasetNotFound) {
			t.Fatalf("Dataset before the first commit = %v, want ErrDatasetNotFound", err)
		}
		if _, err := tg.sink.History(ctx, ds); !errors.Is(err, sink.ErrDatasetNotFound) {
			t.Fatalf("History before the first commit = %v, want ErrDatasetNotFound", err)
		}
		plan := planOf(col("id", schema.Int64), col("amount", schema.Float64), col("day", schema.Date))
		plan.Settings = sink.Settings{Evolution: sink.EvolutionRescue, Modified: sink.ModifiedAppend, AllowWidening: true}
		plan.Columns = append(plan.Columns, sink.Column{Name: sink.RescueColumn, Type: schema.JSON, Nullable: true, Reason: "rescue mode"})
		plan.Change = &sink.SchemaChange{Version: 1, Added: plan.Columns, Reason: "created from s3://bkt/2024-01.csv"}
		o := obj("2024-01.csv")
		before := time.Now().Add(-time.Second)
		if err := commitPlan(ctx, tg.sink, ds, o, plan, [][]any{{int64(1), 1.5, nil, nil}, {int64(2), nil, nil, nil}}); err != nil {
			t.Fatal(err)
		}
		info, err := tg.sink.Dataset(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		if info.Workspace != ds.Workspace || info.Name != ds.Name || info.Version != 1 || info.Objects != 1 || info.Rows != 2 {
			t.Errorf("record = %+v, want version 1 with 1 object and 2 rows", info)
		}
		if info.Settings != plan.Settings {
			t.Errorf("settings = %+v, want %+v", info.Settings, plan.Settings)
		}
		if info.Created.Before(before) || info.Updated.Before(info.Created) {
			t.Errorf("created %v, updated %v", info.Created, info.Updated)
		}
		if got := columnNames(info.Columns); !reflect.DeepEqual(got, []string{"id", "amount", "day", sink.RescueColumn}) {
			t.Fatalf("columns = %v", got)
		}
		for i, c := range info.Columns {
			want := plan.Columns[i]
			if c.Type != want.Type || !c.Nullable || c.AddedAt.Before(before) {
				t.Errorf("column %+v, want type %s, nullable, added at commit time", c, want.Type)
			}
			if c.Name != sink.RescueColumn && !strings.Contains(c.AddedBy, o.Key) {
				t.Errorf("column %q added by %q, want the object %s", c.Name, c.AddedBy, o.Key)
			}
		}
		if c := info.Column(sink.RescueColumn); c == nil || c.AddedBy != "" || c.Reason != "rescue mode" {
			t.Errorf("rescue column = %+v: added by no object, reason kept", c)
		}
		hist, err := tg.sink.History(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Version != 1 || hist[0].Reason != plan.Change.Reason || !strings.Contains(hist[0].Object, o.Key) ||
			!reflect.DeepEqual(columnNames(hist[0].Added), columnNames(plan.Columns)) || hist[0].At.Before(before) {
			t.Errorf("history = %+v", hist)
		}
		list, err := tg.sink.Datasets(ctx, testWS)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(list, func(d sink.DatasetInfo) bool { return d.Name == ds.Name }); i < 0 || list[i].Version != 1 || len(list[i].Columns) != 4 {
			t.Errorf("Datasets(%s) = %+v, want %s at version 1", testWS, list, ds.Name)
		}
		if list, err := tg.sink.Datasets(ctx, "ws-never-used"); err != nil || len(list) != 0 {
			t.Errorf("Datasets of an unknown workspace = %v, %v; want none", list, err)
		}
	})
}

// TestCatalogNewColumn: a backfill where a column appears partway. The
// second object's column is added (version 2, history has both versions,
// the column records the object that added it), every value of it is in
// the dataset and the earlier rows read null there.
func TestCatalogNewColumn(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		ds := dset("cat-newcol")
		v1 := planOf(col("id", schema.Int64), col("amount", schema.Float64))
		if err := commitPlan(ctx, tg.sink, ds, obj("2024-01.csv"), v1, [][]any{{int64(1), 1.0}, {int64(2), 2.0}, {int64(3), nil}}); err != nil {
			t.Fatal(err)
		}
		email := col("email", schema.String)
		v2 := planOf(col("id", schema.Int64), col("amount", schema.Float64), email)
		v2.Base = 1
		v2.Change = &sink.SchemaChange{Version: 2, Added: []sink.Column{email}, Reason: "new columns in s3://bkt/2024-06.csv"}
		if err := commitPlan(ctx, tg.sink, ds, obj("2024-06.csv"), v2, [][]any{{int64(10), 5.0, "a@example.com"}, {int64(11), nil, "b@example.com"}, {int64(12), 7.0, nil}}); err != nil {
			t.Fatal(err)
		}
		// An object with the columns in another order and without amount.
		v3 := planOf(email, col("id", schema.Int64))
		v3.Base = 2
		if err := commitPlan(ctx, tg.sink, ds, obj("2024-07.csv"), v3, [][]any{{"c@example.com", int64(20)}}); err != nil {
			t.Fatal(err)
		}
		info, err := tg.sink.Dataset(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		if got := columnNames(info.Columns); info.Version != 2 || !reflect.DeepEqual(got, []string{"id", "amount", "email"}) || info.Objects != 3 || info.Rows != 7 {
			t.Errorf("record: version %d, columns %v, %d objects, %d rows; want 2, [id amount email], 3, 7", info.Version, got, info.Objects, info.Rows)
		}
		if c := info.Column("email"); c == nil || !strings.Contains(c.AddedBy, "2024-06.csv") || c.Type != schema.String || !c.Nullable {
			t.Errorf("email = %+v", c)
		}
		if c := info.Column("id"); c == nil || !strings.Contains(c.AddedBy, "2024-01.csv") {
			t.Errorf("id = %+v", c)
		}
		hist, err := tg.sink.History(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].Version != 1 || hist[1].Version != 2 || hist[1].Reason != v2.Change.Reason ||
			!reflect.DeepEqual(columnNames(hist[1].Added), []string{"email"}) || !strings.Contains(hist[1].Object, "2024-06.csv") {
			t.Errorf("history = %+v", hist)
		}
		all := sink.ColumnsSchema(info.Columns)
		want := [][]any{
			{int64(1), 1.0, nil}, {int64(2), 2.0, nil}, {int64(3), nil, nil},
			{int64(10), 5.0, "a@example.com"}, {int64(11), nil, "b@example.com"}, {int64(12), 7.0, nil},
			{int64(20), nil, "c@example.com"},
		}
		equalRows(t, tg.project(t, ds, all), want, true)
	})
}

// TestModifiedReplace: a new version of a key committed with Plan.Replace
// removes the earlier version's rows in the same commit; other keys keep
// theirs.
func TestModifiedReplace(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		ds := dset("mod-replace")
		p := planOf(col("id", schema.Int64), col("v", schema.String))
		if err := commitPlan(ctx, tg.sink, ds, obj("other.csv"), p, [][]any{{int64(100), "other"}}); err != nil {
			t.Fatal(err)
		}
		old := version("export.csv", "etag-1")
		if err := commitPlan(ctx, tg.sink, ds, old, p, [][]any{{int64(1), "wrong"}, {int64(2), "wrong"}, {int64(3), "wrong"}}); err != nil {
			t.Fatal(err)
		}
		corrected := version("export.csv", "etag-2")
		l, err := tg.sink.Lookup(ctx, ds, corrected)
		if err != nil || l.Loaded || len(l.Earlier) != 1 || l.Earlier[0].ETag != old.ETag {
			t.Fatalf("Lookup(new version) = %+v, %v; want not loaded, earlier [%s]", l, err, old.ETag)
		}
		rp := p
		rp.Base, rp.Replace = 1, true
		if err := commitPlan(ctx, tg.sink, ds, corrected, rp, [][]any{{int64(1), "right"}, {int64(2), "right"}}); err != nil {
			t.Fatal(err)
		}
		want := [][]any{{int64(1), "right"}, {int64(2), "right"}, {int64(100), "other"}}
		equalRows(t, tg.project(t, ds, sink.ColumnsSchema(p.Columns)), want, true)
		if l, err := tg.sink.Lookup(ctx, ds, corrected); err != nil || !l.Loaded || len(l.Earlier) != 0 {
			t.Errorf("Lookup(corrected) after replace = %+v, %v; want loaded and no earlier versions", l, err)
		}
		if info, err := tg.sink.Dataset(ctx, ds); err != nil || info.Objects != 2 || info.Rows != 3 || info.Version != 1 {
			t.Errorf("record after replace = %+v, %v; want 2 objects, 3 rows, version 1", info, err)
		}
	})
}

// TestModifiedAppend: without Replace a new version's rows are added beside
// the earlier ones, and Lookup lists the earlier versions.
func TestModifiedAppend(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		ds := dset("mod-append")
		p := planOf(col("id", schema.Int64), col("v", schema.String))
		p.Settings.Modified = sink.ModifiedAppend
		v1, v2, v3 := version("log.csv", "e1"), version("log.csv", "e2"), version("log.csv", "e3")
		if err := commitPlan(ctx, tg.sink, ds, v1, p, [][]any{{int64(1), "v1"}}); err != nil {
			t.Fatal(err)
		}
		if err := commitPlan(ctx, tg.sink, ds, v2, p, [][]any{{int64(2), "v2"}}); err != nil {
			t.Fatal(err)
		}
		equalRows(t, tg.project(t, ds, sink.ColumnsSchema(p.Columns)), [][]any{{int64(1), "v1"}, {int64(2), "v2"}}, true)
		etags := func(refs []sink.ObjectRef) []string {
			var out []string
			for _, r := range refs {
				if r.Bucket != "bkt" || r.Key != "log.csv" {
					t.Errorf("earlier version of another object: %+v", r)
				}
				out = append(out, r.ETag)
			}
			slices.Sort(out)
			return out
		}
		for _, c := range []struct {
			o       sink.ObjectRef
			loaded  bool
			earlier []string
		}{
			{v1, true, []string{"e2"}},
			{v2, true, []string{"e1"}},
			{v3, false, []string{"e1", "e2"}},
			{obj("unrelated.csv"), false, nil},
		} {
			l, err := tg.sink.Lookup(ctx, ds, c.o)
			if err != nil || l.Loaded != c.loaded || !reflect.DeepEqual(etags(l.Earlier), c.earlier) {
				t.Errorf("Lookup(%s) = %+v, %v; want loaded %v, earlier %v", c.o.ETag, l, err, c.loaded, c.earlier)
			}
		}
		if info, err := tg.sink.Dataset(ctx, ds); err != nil || info.Objects != 2 || info.Rows != 2 || info.Settings.Modified != sink.ModifiedAppend {
			t.Errorf("record = %+v, %v", info, err)
		}
	})
}

// TestCatalogRejects: Rejects lists the recorded rejected rows with their
// object, line, column, value and reason, in commit order, up to a limit.
func TestCatalogRejects(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		ds := dset("cat-rejects")
		if _, err := tg.sink.Rejects(ctx, ds, 0); !errors.Is(err, sink.ErrDatasetNotFound) {
			t.Errorf("Rejects of a missing dataset = %v, want ErrDatasetNotFound", err)
		}
		p := planOf(col("id", schema.Int64), col("amount", schema.Float64))
		r1 := sink.Reject{Line: 5, Column: "amount", Value: "12.3.4", Error: "not a number"}
		r2 := sink.Reject{Line: 9, Column: "id", Value: "x", Error: "not an integer"}
		r3 := sink.Reject{Line: 2, Column: "amount", Value: "1e999", Error: "out of range"}
		if err := commitPlan(ctx, tg.sink, ds, obj("a.csv"), p, [][]any{{int64(1), 1.0}}, r1, r2); err != nil {
			t.Fatal(err)
		}
		if err := commitPlan(ctx, tg.sink, ds, obj("b.csv"), p, [][]any{{int64(2), 2.0}}, r3); err != nil {
			t.Fatal(err)
		}
		if err := commitPlan(ctx, tg.sink, ds, obj("c.csv"), p, [][]any{{int64(3), 3.0}}); err != nil {
			t.Fatal(err)
		}
		got, err := tg.sink.Rejects(ctx, ds, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []sink.RecordedReject{{Object: obj("a.csv"), Reject: r1}, {Object: obj("a.csv"), Reject: r2}, {Object: obj("b.csv"), Reject: r3}}
		if len(got) != len(want) {
			t.Fatalf("rejects = %+v, want %+v", got, want)
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Reject != w.Reject || g.Object.Bucket != w.Object.Bucket || g.Object.Key != w.Object.Key || g.Object.Version() != w.Object.Version() {
				t.Errorf("reject %d = %+v, want %+v", i, g, w)
			}
		}
		if got, err := tg.sink.Rejects(ctx, ds, 2); err != nil || len(got) != 2 || got[1].Reject != r2 {
			t.Errorf("Rejects(limit 2) = %+v, %v", got, err)
		}
	})
}

// TestSchemaConflict: a plan whose column the dataset has with another type
// (a concurrent commit changed the schema) fails with a transient
// *SchemaConflictError and commits nothing.
func TestSchemaConflict(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		ds := dset("conflict")
		p := planOf(col("id", schema.Int64), col("amount", schema.Float64))
		if err := commitPlan(ctx, tg.sink, ds, obj("a.csv"), p, [][]any{{int64(1), 1.5}}); err != nil {
			t.Fatal(err)
		}
		bad := planOf(col("id", schema.Int64), col("amount", schema.String), col("extra", schema.String))
		bad.Base = 1
		err := commitPlan(ctx, tg.sink, ds, obj("b.csv"), bad, [][]any{{int64(2), "2,5", "x"}})
		var ce *sink.SchemaConflictError
		if !errors.As(err, &ce) || ce.Column != "amount" || ce.Have != schema.Float64 || ce.Want != schema.String || ce.Dataset != ds || permanent(err) {
			t.Fatalf("err = %v, want a transient *SchemaConflictError on amount (float64 vs string)", err)
		}
		if l, err := tg.sink.Lookup(ctx, ds, obj("b.csv")); err != nil || l.Loaded {
			t.Errorf("Lookup after the conflict = %+v, %v: the object must not be committed", l, err)
		}
		info, err := tg.sink.Dataset(ctx, ds)
		if err != nil || info.Version != 1 || info.Column("extra") != nil || info.Column("amount").Type != schema.Float64 || info.Objects != 1 {
			t.Errorf("record after the conflict = %+v, %v: unchanged", info, err)
		}
		equalRows(t, tg.project(t, ds, sink.ColumnsSchema(p.Columns)), [][]any{{int64(1), 1.5}}, true)
	})
}
