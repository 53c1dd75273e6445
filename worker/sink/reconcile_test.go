package sink

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// inferred builds an object schema from "name type" pairs; inference's
// nullability is false on purpose (a sample without nulls).
func inferred(spec ...string) *schema.Schema {
	s := &schema.Schema{}
	for _, f := range spec {
		name, typ, _ := strings.Cut(f, " ")
		t, err := schema.ParseType(typ)
		if err != nil {
			panic(err)
		}
		s.Fields = append(s.Fields, schema.Field{Name: name, Type: t, Reason: "inferred " + typ})
	}
	return s
}

// cols renders columns as "name type[?][!pinned]" for comparisons.
func cols(cs []Column) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + " " + c.Type.String()
		if c.Nullable {
			parts[i] += "?"
		}
		if c.Pinned {
			parts[i] += "!pinned"
		}
	}
	return strings.Join(parts, ", ")
}

func record(settings Settings, cs ...Column) *DatasetInfo {
	return &DatasetInfo{Workspace: "ws", Name: "d", Version: 3, Columns: cs, Settings: settings.WithDefaults()}
}

func col(name string, t schema.Type) Column { return Column{Name: name, Type: t, Nullable: true} }

func TestReconcile(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	obj := ObjectRef{Bucket: "b", Key: "2024-06.csv", ETag: "e1", Size: 10}
	base := func() *DatasetInfo {
		return record(Settings{}, col("id", schema.Int64), col("amount", schema.Float64), col("day", schema.Date))
	}
	widening := func() *DatasetInfo {
		d := base()
		d.Settings.AllowWidening = true
		return d
	}
	pg := Capabilities{AlterColumnType: true}

	tests := []struct {
		name string
		in   ReconcileInput
		// want: plan columns, read schema, base, change reason substring
		// ("" = no change), widened, rescue, conflicts.
		cols, read string
		base       int64
		change     string
		widened    string
		rescue     string
		conflicts  string
		replace    bool
		err        string
	}{
		{
			name: "new dataset: the object's columns, all nullable",
			in:   ReconcileInput{Inferred: inferred("id int64", "amount float64")},
			cols: "id int64?, amount float64?", read: "id int64?, amount float64?",
			change: "created from s3://b/2024-06.csv#e1",
		},
		{
			name: "new dataset with hints: hinted types pinned",
			in:   ReconcileInput{Inferred: inferred("id int64", "amount float64"), Hints: []Pin{{Name: "amount", Type: schema.String}, {Name: "zip", Type: schema.String}}},
			cols: "id int64?, amount string?!pinned", read: "id int64?, amount string?",
			change: "created from",
		},
		{
			name: "new dataset with a hint the inference disagrees with: the hint wins, noted",
			in:   ReconcileInput{Inferred: inferred("id string"), Hints: []Pin{{Name: "id", Type: schema.Int64}}},
			cols: "id int64?!pinned", read: "id int64?", change: "created from",
			conflicts: "id int64/string",
		},
		{
			name: "new dataset from a pinned schema: NOT NULL only where pinned",
			in: ReconcileInput{Inferred: inferred("id string", "amount float64"),
				Schema: []Pin{{Name: "id", Type: schema.Int64, NotNull: true}, {Name: "amount", Type: schema.Float64}, {Name: "note", Type: schema.String}}},
			cols: "id int64!pinned, amount float64?!pinned, note string?!pinned", read: "id int64, amount float64?, note string?",
			change: "created from the job's schema", conflicts: "id int64/string",
		},
		{
			name: "new dataset from a pinned schema: the object's extra columns follow the evolution mode (add)",
			in:   ReconcileInput{Inferred: inferred("id int64", "extra bool"), Schema: []Pin{{Name: "id", Type: schema.Int64}}},
			cols: "id int64?!pinned, extra bool?", read: "id int64?, extra bool?", change: "created from the job's schema",
		},
		{
			name: "new dataset from a pinned schema: the object lacks a NOT NULL column",
			in:   ReconcileInput{Inferred: inferred("amount float64"), Schema: []Pin{{Name: "id", Type: schema.Int64, NotNull: true}}},
			err:  `has no column "id", which the dataset pins NOT NULL`,
		},
		{
			name: "new dataset in rescue mode with lineage: reserved columns last, not read",
			in:   ReconcileInput{Inferred: inferred("id int64"), Settings: Settings{Evolution: EvolutionRescue, Lineage: true}},
			cols: "id int64?, _rescued json?, _source_key string, _source_version string, _ingested_at timestamp, _source_line int64",
			read: "id int64?", change: "created from",
		},
		{
			name: "same columns: load, no change",
			in:   ReconcileInput{Dataset: base(), Inferred: inferred("id int64", "amount float64", "day date")},
			cols: "id int64?, amount float64?, day date?", read: "id int64?, amount float64?, day date?", base: 3,
		},
		{
			name: "missing columns: read as null, no change",
			in:   ReconcileInput{Dataset: base(), Inferred: inferred("amount float64")},
			cols: "id int64?, amount float64?, day date?", read: "id int64?, amount float64?, day date?", base: 3,
		},
		{
			name: "a narrower type fits: int64 values into a float64 column",
			in:   ReconcileInput{Dataset: base(), Inferred: inferred("id int64", "amount int64")},
			cols: "id int64?, amount float64?, day date?", read: "id int64?, amount float64?, day date?", base: 3,
		},
		{
			name: "new columns, add: appended nullable, before the reserved columns",
			in: ReconcileInput{Dataset: record(Settings{Lineage: true}, append([]Column{col("id", schema.Int64)}, reservedColumnList(Settings{Lineage: true}, now)...)...),
				Inferred: inferred("email string", "id int64", "vip bool")},
			cols:   "id int64?, email string?, vip bool?, _source_key string, _source_version string, _ingested_at timestamp, _source_line int64",
			read:   "id int64?, email string?, vip bool?",
			base:   3,
			change: `new columns "email" string, "vip" bool in s3://b/2024-06.csv#e1`,
		},
		{
			name: "new columns with a hint: typed by the hint",
			in:   ReconcileInput{Dataset: base(), Inferred: inferred("id int64", "zip int64"), Hints: []Pin{{Name: "zip", Type: schema.String}}},
			cols: "id int64?, amount float64?, day date?, zip string?!pinned", read: "id int64?, amount float64?, day date?, zip string?",
			base: 3, change: `new columns "zip" string`,
		},
		{
			name: "new columns, rescue: not added, read after the data columns for _rescued",
			in: ReconcileInput{Dataset: record(Settings{Evolution: EvolutionRescue}, col("id", schema.Int64), reservedColumnList(Settings{Evolution: EvolutionRescue}, now)[0]),
				Inferred: inferred("id int64", "email string")},
			cols: "id int64?, _rescued json?", read: "id int64?, email string?", base: 3, rescue: "email",
		},
		{
			name: "new columns, fail: a permanent error naming them",
			in:   ReconcileInput{Dataset: record(Settings{Evolution: EvolutionFail}, col("id", schema.Int64)), Inferred: inferred("id int64", "email string", "vip bool")},
			err:  `s3://b/2024-06.csv#e1 brings "email" (string), "vip" (bool)`,
		},
		{
			name: "type conflict without widening: the dataset's type wins",
			in:   ReconcileInput{Dataset: base(), Inferred: inferred("id string", "amount float64"), Capabilities: pg},
			cols: "id int64?, amount float64?, day date?", read: "id int64?, amount float64?, day date?", base: 3,
			conflicts: "id int64/string: the dataset does not allow widening",
		},
		{
			name: "widening allowed on a sink that can: int64 → float64",
			in:   ReconcileInput{Dataset: widening(), Inferred: inferred("id float64"), Capabilities: pg},
			cols: "id float64?, amount float64?, day date?", read: "id float64?, amount float64?, day date?", base: 3,
			change: "id widened from int64 to float64", widened: "id int64→float64",
		},
		{
			name: "widening: float64 → string and date → timestamp in one change",
			in:   ReconcileInput{Dataset: widening(), Inferred: inferred("amount string", "day timestamp"), Capabilities: pg},
			cols: "id int64?, amount string?, day timestamp?", read: "id int64?, amount string?, day timestamp?", base: 3,
			change: "amount widened from float64 to string", widened: "amount float64→string, day date→timestamp",
		},
		{
			name: "widening allowed but the sink cannot (Parquet directory): one type per column",
			in:   ReconcileInput{Dataset: widening(), Inferred: inferred("id float64")},
			cols: "id int64?, amount float64?, day date?", read: "id int64?, amount float64?, day date?", base: 3,
			conflicts: "id int64/float64: the sink cannot change",
		},
		{
			name: "widening allowed but the column is pinned",
			in: ReconcileInput{Dataset: record(Settings{AllowWidening: true}, Column{Name: "id", Type: schema.Int64, Nullable: true, Pinned: true}),
				Inferred: inferred("id float64"), Capabilities: pg},
			cols: "id int64?!pinned", read: "id int64?", base: 3,
			conflicts: "id int64/float64: the column's type is pinned",
		},
		{
			name: "not a widening: string → int64 keeps string without a conflict, bool vs date conflicts",
			in:   ReconcileInput{Dataset: record(Settings{AllowWidening: true}, col("s", schema.String), col("d", schema.Date)), Inferred: inferred("s int64", "d bool"), Capabilities: pg},
			cols: "s string?, d date?", read: "s string?, d date?", base: 3,
			conflicts: "d date/bool: date does not widen to bool",
		},
		{
			name: "pinned schema agrees with the dataset",
			in: ReconcileInput{Dataset: base(), Inferred: inferred("id int64"),
				Schema: []Pin{{Name: "id", Type: schema.Int64}, {Name: "day", Type: schema.Date}}},
			cols: "id int64?, amount float64?, day date?", read: "id int64?, amount float64?, day date?", base: 3,
		},
		{
			name: "pinned schema differs from the dataset: a contract error naming both",
			in: ReconcileInput{Dataset: base(), Inferred: inferred("id int64"),
				Schema: []Pin{{Name: "id", Type: schema.String}, {Name: "day", Type: schema.Date, NotNull: true}, {Name: "x", Type: schema.Bool}}},
			err: `column "id" is int64 in the dataset, string in the job's schema; column "day" is nullable in the dataset, NOT NULL in the job's schema; the job's schema has column "x", the dataset does not`,
		},
		{
			name: "hint differs from an existing column: a contract error",
			in:   ReconcileInput{Dataset: base(), Inferred: inferred("id int64"), Hints: []Pin{{Name: "amount", Type: schema.String}}},
			err:  `column "amount" is float64 in the dataset, string in the job's schema hints`,
		},
		{
			name: "the object has a lineage column name",
			in:   ReconcileInput{Inferred: inferred("id int64", "_source_line int64"), Settings: Settings{Lineage: true}},
			err:  `the object has a column "_source_line"`,
		},
		{
			name: "a modified object under replace: Plan.Replace",
			in:   ReconcileInput{Dataset: base(), Inferred: inferred("id int64"), Earlier: []ObjectRef{{Bucket: "b", Key: "2024-06.csv", ETag: "e0"}}},
			cols: "id int64?, amount float64?, day date?", read: "id int64?, amount float64?, day date?", base: 3, replace: true,
		},
		{
			name: "a modified object under append: no replace",
			in: ReconcileInput{Dataset: record(Settings{Modified: ModifiedAppend}, col("id", schema.Int64)), Inferred: inferred("id int64"),
				Earlier: []ObjectRef{{Bucket: "b", Key: "2024-06.csv", ETag: "e0"}}},
			cols: "id int64?", read: "id int64?", base: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Object, in.Now, in.Name = obj, now, Dataset{Workspace: "ws", Name: "d"}
			r, err := Reconcile(in)
			if tc.err != "" {
				var c interface{ Permanent() bool }
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &c) || !c.Permanent() {
					t.Fatalf("err = %v, want a permanent error containing %q", err, tc.err)
				}
				if f, ok := err.(interface{ Fix() string }); ok && f.Fix() == "" {
					t.Fatalf("err %v has no fix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cols(r.Plan.Columns); got != tc.cols {
				t.Errorf("columns = %s\nwant      %s", got, tc.cols)
			}
			if got := r.Read.String(); got != tc.read {
				t.Errorf("read = %s, want %s", got, tc.read)
			}
			if r.Plan.Base != tc.base || r.Plan.Replace != tc.replace {
				t.Errorf("base %d replace %t, want %d %t", r.Plan.Base, r.Plan.Replace, tc.base, tc.replace)
			}
			switch {
			case tc.change == "" && r.Plan.Change != nil:
				t.Errorf("change = %+v, want none", r.Plan.Change)
			case tc.change != "" && (r.Plan.Change == nil || !strings.Contains(r.Plan.Change.Reason, tc.change)):
				t.Errorf("change = %+v, want reason with %q", r.Plan.Change, tc.change)
			}
			if ch := r.Plan.Change; ch != nil {
				if want := tc.base + 1; ch.Version != want {
					t.Errorf("change version %d, want %d", ch.Version, want)
				}
				var w []string
				for _, x := range ch.Widened {
					w = append(w, fmt.Sprintf("%s %s→%s", x.Column, x.From, x.To))
				}
				if got := strings.Join(w, ", "); got != tc.widened {
					t.Errorf("widened = %s, want %s", got, tc.widened)
				}
				for _, c := range ch.Added {
					if c.AddedAt != now || (!c.Pinned && !IsReserved(c.Name) && c.AddedBy != "s3://b/2024-06.csv#e1") {
						t.Errorf("added column %+v: want added by the object at now", c)
					}
				}
				if tc.base == 0 && cols(ch.Added) != cols(r.Plan.Columns) {
					t.Errorf("creation adds %s, want all columns", cols(ch.Added))
				}
			} else if tc.widened != "" {
				t.Errorf("no change, want widened %s", tc.widened)
			}
			if got := strings.Join(r.Rescue, ","); got != tc.rescue {
				t.Errorf("rescue = %s, want %s", got, tc.rescue)
			}
			var conf []string
			for _, c := range r.Conflicts {
				conf = append(conf, fmt.Sprintf("%s %s/%s: %s", c.Column, c.Dataset, c.Object, c.Why))
			}
			if got := strings.Join(conf, "; "); (tc.conflicts == "") != (got == "") || !strings.Contains(got, tc.conflicts) {
				t.Errorf("conflicts = %q, want %q", got, tc.conflicts)
			}
			if r.Plan.Settings.Evolution == "" || r.Plan.Settings.Modified == "" {
				t.Errorf("plan settings without defaults: %+v", r.Plan.Settings)
			}
		})
	}
}

// TestReconcileIsPure: the input's record is not modified, and the same
// input gives the same plan.
func TestReconcileIsPure(t *testing.T) {
	d := record(Settings{AllowWidening: true}, col("id", schema.Int64))
	in := ReconcileInput{Dataset: d, Inferred: inferred("id float64", "x string"), Capabilities: Capabilities{AlterColumnType: true},
		Object: ObjectRef{Bucket: "b", Key: "k", ETag: "e"}}
	a, err := Reconcile(in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Reconcile(in)
	if cols(d.Columns) != "id int64?" {
		t.Fatalf("record changed: %s", cols(d.Columns))
	}
	if cols(a.Plan.Columns) != cols(b.Plan.Columns) || cols(a.Plan.Columns) != "id float64?, x string?" {
		t.Fatalf("plans %s / %s", cols(a.Plan.Columns), cols(b.Plan.Columns))
	}
}

// TestReconcileSettingsOfTheRecordWin: an existing dataset is reconciled
// with its own settings, not the job's.
func TestReconcileSettingsOfTheRecordWin(t *testing.T) {
	d := record(Settings{Evolution: EvolutionFail}, col("id", schema.Int64))
	_, err := Reconcile(ReconcileInput{Dataset: d, Settings: Settings{Evolution: EvolutionAdd}, Inferred: inferred("id int64", "x string")})
	var nc *NewColumnsError
	if !errors.As(err, &nc) || len(nc.Columns) != 1 || nc.Columns[0].Name != "x" || nc.Dataset.Name != "d" {
		t.Fatalf("err = %v", err)
	}
}

func TestSettingsDiff(t *testing.T) {
	if d := SettingsDiff(Settings{}, Settings{Evolution: EvolutionAdd, Modified: ModifiedReplace}); d != nil {
		t.Fatalf("defaults differ: %v", d)
	}
	got := strings.Join(SettingsDiff(Settings{Lineage: true}, Settings{Evolution: EvolutionFail, Modified: ModifiedSkip, AllowWidening: true}), "; ")
	want := `evolution: dataset "add", job "fail"; modified: dataset "replace", job "skip"; allow_widening: dataset false, job true`
	if got != want {
		t.Fatalf("diff = %s\nwant   %s", got, want)
	}
	// A job that sets nothing accepts the dataset's settings, whatever they are.
	if d := SettingsDiff(Settings{Evolution: EvolutionRescue, Modified: ModifiedAppend, Lineage: true, AllowWidening: true}, Settings{}); d != nil {
		t.Fatalf("a job without settings differs: %v", d)
	}
	if d := SettingsDiff(Settings{}, Settings{Lineage: true}); len(d) != 1 || d[0] != "lineage: dataset false, job true" {
		t.Fatalf("asking for lineage on a dataset without it: %v", d)
	}
}
