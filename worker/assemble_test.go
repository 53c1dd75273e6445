package worker

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// TestAssemblerFillsRescueAndLineage: data columns are handed over, the
// rescue column holds the values of the columns outside the dataset by
// name (null when there are none), lineage columns hold the object and the
// row's line.
func TestAssemblerFillsRescueAndLineage(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	obj := sink.ObjectRef{Bucket: "b", Key: "in/a.csv", ETag: `"e1"`, Size: 3}
	rec, err := sink.Reconcile(sink.ReconcileInput{
		Dataset: &sink.DatasetInfo{Workspace: "ws", Name: "d", Version: 1,
			Settings: sink.Settings{Evolution: sink.EvolutionRescue, Lineage: true}.WithDefaults(),
			Columns: []sink.Column{{Name: "id", Type: schema.Int64, Nullable: true}, {Name: sink.RescueColumn, Type: schema.JSON, Nullable: true},
				{Name: sink.LineageKey, Type: schema.String}, {Name: sink.LineageVersion, Type: schema.String},
				{Name: sink.LineageIngested, Type: schema.Timestamp}, {Name: sink.LineageLine, Type: schema.Int64}}},
		Object:   obj,
		Inferred: &schema.Schema{Fields: []schema.Field{{Name: "email", Type: schema.String}, {Name: "id", Type: schema.Int64}, {Name: "n", Type: schema.Float64}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Read.String(); got != "id int64?, email string?, n float64?" {
		t.Fatalf("read schema %s", got)
	}
	a, err := newAssembler(rec.Plan.Columns, rec.Plan.Settings, rec.Read, rec.Rescue, obj, now)
	if err != nil {
		t.Fatal(err)
	}
	b := schema.NewBatch(rec.Read, 4)
	for i := range 3 {
		b.Cols[0].AppendInt(int64(i))
		if i == 1 {
			b.Cols[1].AppendNull()
			b.Cols[2].AppendNull()
		} else {
			b.Cols[1].AppendString(fmt.Sprintf("u%d@x", i))
			b.Cols[2].AppendFloat(float64(i) + 0.5)
		}
		b.Lines = append(b.Lines, int64(i+2))
	}
	for round := range 2 { // batches are reused
		out := a.batch(b)
		if out.Len() != 3 || !out.Schema.Equal(sink.ColumnsSchema(rec.Plan.Columns)) {
			t.Fatalf("round %d: %d rows, schema %s", round, out.Len(), out.Schema)
		}
		var rows []string
		for r := range out.Len() {
			row := out.Row(r)
			if j, ok := row[1].(json.RawMessage); ok {
				row[1] = string(j)
			}
			rows = append(rows, fmt.Sprint(row))
		}
		want := strings.Join([]string{
			`[0 {"email":"u0@x","n":0.5} s3://b/in/a.csv "e1" 2024-06-01T12:00:00Z 2]`,
			`[1 <nil> s3://b/in/a.csv "e1" 2024-06-01T12:00:00Z 3]`,
			`[2 {"email":"u2@x","n":2.5} s3://b/in/a.csv "e1" 2024-06-01T12:00:00Z 4]`,
		}, "\n")
		if got := strings.Join(rows, "\n"); got != want {
			t.Fatalf("round %d rows:\n%s\nwant\n%s", round, got, want)
		}
	}
}

// TestAssemblerRefusesAMismatchedReadSchema: a parser schema that lacks a
// plan column (or has another type) is a bug, not rows of nulls.
func TestAssemblerRefusesAMismatchedReadSchema(t *testing.T) {
	cols := []sink.Column{{Name: "id", Type: schema.Int64, Nullable: true}}
	for _, read := range []*schema.Schema{{}, {Fields: []schema.Field{{Name: "id", Type: schema.String}}}} {
		if _, err := newAssembler(cols, sink.Settings{}, read, nil, sink.ObjectRef{}, time.Now()); err == nil {
			t.Fatalf("read schema %s accepted", read)
		}
	}
}

func TestMixedFormats(t *testing.T) {
	f := map[string]int64{}
	for _, k := range []string{"a/x.csv", "a/y.CSV.gz", "a/z.ndjson", "a/w.jsonl.zst", "a/_SUCCESS", "a/p.parquet"} {
		f[formatByName(k)]++
	}
	if fmt.Sprint(f) != "map[csv:2 json:2 parquet:1 unknown:1]" {
		t.Fatalf("formats %v", f)
	}
	if w := mixedFormats(f); !strings.Contains(w, "mixes formats (2 csv, 2 json, 1 parquet, 1 unknown objects") {
		t.Fatalf("warning %q", w)
	}
	if w := mixedFormats(map[string]int64{"csv": 3, "unknown": 2}); w != "" {
		t.Fatalf("one format warned: %q", w)
	}
}

// TestAssemblerKeepsSourceColumnsNamedLikeReservedOnes: in a dataset
// without lineage or rescue, source columns named _source_key or _rescued
// are data: their values are loaded as they are, never overwritten.
func TestAssemblerKeepsSourceColumnsNamedLikeReservedOnes(t *testing.T) {
	obj := sink.ObjectRef{Bucket: "b", Key: "k.csv", ETag: "e", Size: 1}
	rec, err := sink.Reconcile(sink.ReconcileInput{Name: sink.Dataset{Workspace: "ws", Name: "d"}, Object: obj,
		Inferred: &schema.Schema{Fields: []schema.Field{{Name: sink.LineageKey, Type: schema.String, Nullable: true},
			{Name: sink.RescueColumn, Type: schema.String, Nullable: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAssembler(rec.Plan.Columns, rec.Plan.Settings, rec.Read, rec.Rescue, obj, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b := schema.NewBatch(rec.Read, 1)
	b.Cols[rec.Read.Index(sink.LineageKey)].AppendString("customer-value")
	b.Cols[rec.Read.Index(sink.RescueColumn)].AppendString("also data")
	b.Lines = append(b.Lines, 2)
	out := a.batch(b)
	got := out.Row(0)
	want := map[string]any{sink.LineageKey: "customer-value", sink.RescueColumn: "also data"}
	for i, f := range out.Schema.Fields {
		if got[i] != want[f.Name] {
			t.Errorf("column %s = %v, want the source's %v", f.Name, got[i], want[f.Name])
		}
	}
}
