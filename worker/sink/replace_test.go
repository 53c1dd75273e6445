package sink_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// commitDiscarded is commitPlan that also reports whether the commit
// discarded its rows (sink.Discarded).
func commitDiscarded(ctx context.Context, s sink.Sink, ds sink.Dataset, o sink.ObjectRef, plan sink.Plan, rows [][]any) (bool, error) {
	w, err := s.Begin(ctx, ds, o, plan)
	if err != nil {
		return false, err
	}
	defer w.Abort(ctx)
	b := schema.NewBatch(sink.ColumnsSchema(plan.Columns), len(rows))
	for i, r := range rows {
		b.Cols[0].AppendInt(r[0].(int64))
		b.Cols[1].AppendString(r[1].(string))
		b.Lines = append(b.Lines, int64(i+2))
	}
	if err := w.Write(ctx, b); err != nil {
		return false, err
	}
	if err := w.Reject(ctx, sink.Reject{Line: 99, Error: "bad row of " + o.ETag}); err != nil {
		return false, err
	}
	if err := w.Commit(ctx, sink.Stats{Rows: int64(len(rows)), Rejected: 1}); err != nil {
		return false, err
	}
	return sink.Discarded(w), nil
}

// TestModifiedReplaceOrder: under modified policy replace, which versions
// of a key a commit removes is decided at commit by LastModified, not by
// what Lookup saw at listing (the plans here have no Replace): a stale
// version committed after a newer one is discarded; concurrent commits of
// two versions always end with the newer one; versions without
// LastModified replace each other in commit order.
func TestModifiedReplaceOrder(t *testing.T) {
	forEachSink(t, func(t *testing.T, tg target) {
		ctx := ctxT(t)
		p := planOf(col("id", schema.Int64), col("v", schema.String))
		v1, v2 := version("k.csv", "e1"), version("k.csv", "e2")
		v2.LastModified = v1.LastModified.Add(time.Hour)
		rows1 := [][]any{{int64(1), "v1"}, {int64(2), "v1"}, {int64(3), "v1"}}
		rows2 := [][]any{{int64(1), "v2"}, {int64(2), "v2"}}
		want2 := [][]any{{int64(1), "v2"}, {int64(2), "v2"}, {int64(100), "other"}}
		check := func(t *testing.T, ds sink.Dataset, want [][]any, loaded, gone sink.ObjectRef) {
			t.Helper()
			equalRows(t, tg.project(t, ds, sink.ColumnsSchema(p.Columns)), want, true)
			if l, err := tg.sink.Lookup(ctx, ds, loaded); err != nil || !l.Loaded || len(l.Earlier) != 0 {
				t.Errorf("%s: Lookup(%s) = %+v, %v; want loaded, no other version", ds.Name, loaded.ETag, l, err)
			}
			if l, err := tg.sink.Lookup(ctx, ds, gone); err != nil || l.Loaded {
				t.Errorf("%s: Lookup(%s) = %+v, %v; want not loaded", ds.Name, gone.ETag, l, err)
			}
			if info, err := tg.sink.Dataset(ctx, ds); err != nil || info.Objects != 2 || info.Rows != int64(len(want)) {
				t.Errorf("%s: record = %+v, %v; want 2 objects, %d rows", ds.Name, info, err, len(want))
			}
			rej, err := tg.sink.Rejects(ctx, ds, 0)
			if err != nil || len(rej) != 1 || rej[0].Object.ETag != loaded.ETag {
				t.Errorf("%s: rejects = %+v, %v; want only %s's", ds.Name, rej, err, loaded.ETag)
			}
		}
		setup := func(t *testing.T, name string) sink.Dataset {
			t.Helper()
			ds := dset(name)
			if err := commitPlan(ctx, tg.sink, ds, obj("other.csv"), p, [][]any{{int64(100), "other"}}); err != nil {
				t.Fatal(err)
			}
			return ds
		}

		t.Run("newer then stale", func(t *testing.T) {
			ds := setup(t, "order-stale")
			if d, err := commitDiscarded(ctx, tg.sink, ds, v2, p, rows2); err != nil || d {
				t.Fatalf("commit v2 = discarded %v, %v", d, err)
			}
			d, err := commitDiscarded(ctx, tg.sink, ds, v1, p, rows1)
			if err != nil || !d {
				t.Fatalf("commit of the stale v1 = discarded %v, %v; want discarded", d, err)
			}
			check(t, ds, want2, v2, v1)
		})
		t.Run("older then newer", func(t *testing.T) {
			ds := setup(t, "order-newer")
			if d, err := commitDiscarded(ctx, tg.sink, ds, v1, p, rows1); err != nil || d {
				t.Fatalf("commit v1 = discarded %v, %v", d, err)
			}
			if d, err := commitDiscarded(ctx, tg.sink, ds, v2, p, rows2); err != nil || d {
				t.Fatalf("commit v2 = discarded %v, %v", d, err)
			}
			check(t, ds, want2, v2, v1)
		})
		t.Run("concurrent", func(t *testing.T) {
			for i := range 8 {
				ds := setup(t, fmt.Sprintf("order-conc-%d", i))
				var wg sync.WaitGroup
				errs := make([]error, 2)
				disc := make([]bool, 2)
				for j, o := range []sink.ObjectRef{v1, v2} {
					rows := rows1
					if j == 1 {
						rows = rows2
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						disc[j], errs[j] = commitDiscarded(ctx, tg.sink, ds, o, p, rows)
					}()
				}
				wg.Wait()
				if errs[0] != nil || errs[1] != nil {
					t.Fatalf("iteration %d: commits = %v, %v", i, errs[0], errs[1])
				}
				if disc[1] {
					t.Errorf("iteration %d: the newer v2 was discarded", i)
				}
				check(t, ds, want2, v2, v1)
			}
		})
		t.Run("no LastModified", func(t *testing.T) {
			// Versions without LastModified: the last commit wins, as
			// before LastModified was compared.
			ds := setup(t, "order-nolm")
			z1, z2 := v1, v2
			z1.LastModified, z2.LastModified = time.Time{}, time.Time{}
			if _, err := commitDiscarded(ctx, tg.sink, ds, z2, p, rows2); err != nil {
				t.Fatal(err)
			}
			if d, err := commitDiscarded(ctx, tg.sink, ds, z1, p, rows1); err != nil || d {
				t.Fatalf("commit z1 = discarded %v, %v", d, err)
			}
			check(t, ds, [][]any{{int64(1), "v1"}, {int64(2), "v1"}, {int64(3), "v1"}, {int64(100), "other"}}, z1, z2)
		})
	})
}
