package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// Tests of issue 8's dataset contract, each run against both sinks.

// table is a dataset as a test sees it: its columns with types and its rows
// (values as plain Go values: nil, bool, int64, float64, strings for text,
// dates as "2006-01-02", timestamps as RFC 3339, JSON as text).
type table struct {
	cols  []string
	types map[string]string
	rows  [][]any
}

// col returns the values of column name, one per row.
func (tb *table) col(t *testing.T, name string) []any {
	t.Helper()
	for i, c := range tb.cols {
		if c == name {
			out := make([]any, len(tb.rows))
			for r, row := range tb.rows {
				out[r] = row[i]
			}
			return out
		}
	}
	t.Fatalf("no column %q in %v", name, tb.cols)
	return nil
}

// nonNull counts the non-null values of each column.
func (tb *table) nonNull() map[string]int {
	m := map[string]int{}
	for _, row := range tb.rows {
		for i, v := range row {
			if v != nil {
				m[tb.cols[i]]++
			}
		}
	}
	return m
}

// sinkKind is one sink the contract tests run against.
type sinkKind struct {
	name string
	dsn  string // "" for the file sink
}

// forSinks runs f against a harness with a file sink and one with a
// PostgreSQL sink.
func forSinks(t *testing.T, f func(t *testing.T, h *harness, k sinkKind)) {
	for _, name := range []string{"file", "postgres"} {
		t.Run(name, func(t *testing.T) {
			k := sinkKind{name: name}
			var opts []harnessOpt
			if name == "postgres" {
				k.dsn = testenv.Postgres(t)
				opts = append(opts, withSink(k.dsn))
			}
			f(t, newHarness(t, opts...), k)
		})
	}
}

// read returns the dataset of workspace ws.
func (k sinkKind) read(t *testing.T, h *harness, ws, dataset string) *table {
	t.Helper()
	if k.dsn == "" {
		c := readDataset(t, h, ws, dataset)
		tb := &table{cols: c.Schema.Names(), types: map[string]string{}, rows: c.Rows}
		for _, f := range c.Schema.Fields {
			tb.types[f.Name] = f.Type.String()
		}
		for _, row := range tb.rows {
			for i, v := range row {
				if j, ok := v.(json.RawMessage); ok {
					row[i] = string(j)
				}
			}
		}
		return tb
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, k.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	schemaName := "ws_" + ws
	tb := &table{types: map[string]string{}}
	rows, err := conn.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, schemaName, dataset)
	if err != nil {
		t.Fatal(err)
	}
	pgTypes := map[string]string{"bigint": "int64", "double precision": "float64", "text": "string", "date": "date",
		"timestamp with time zone": "timestamp", "timestamp without time zone": "timestamp", "boolean": "bool", "jsonb": "json", "json": "json"}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(name, "_s3ingest") {
			continue
		}
		tb.cols = append(tb.cols, name)
		tb.types[name] = pgTypes[typ]
		if tb.types[name] == "" {
			tb.types[name] = typ
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tb.cols) == 0 {
		t.Fatalf("no table %s.%s", schemaName, dataset)
	}
	quoted := make([]string, len(tb.cols))
	for i, c := range tb.cols {
		quoted[i] = pgx.Identifier{c}.Sanitize()
	}
	rows, err = conn.Query(ctx, fmt.Sprintf("SELECT %s FROM %s", strings.Join(quoted, ", "), pgx.Identifier{schemaName, dataset}.Sanitize()))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			switch x := v.(type) {
			case time.Time:
				if tb.types[tb.cols[i]] == "date" {
					vals[i] = x.Format(time.DateOnly)
				} else {
					vals[i] = schema.FormatTimestamp(schema.TimestampFromTime(x))
				}
			case map[string]any, []any:
				b, _ := json.Marshal(x)
				vals[i] = string(b)
			case int32:
				vals[i] = int64(x)
			}
		}
		tb.rows = append(tb.rows, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tb
}

// csvOf renders a header and rows as CSV.
func csvOf(header string, rows ...string) []byte {
	return []byte(header + "\n" + strings.Join(rows, "\n") + "\n")
}

// TestContractBackfillColumnAppearsPartway: 2024-01.csv has id,amount;
// 2024-06.csv adds email. Every email value is in the dataset, earlier rows
// are null, and the result says which object added the column.
// Needs the sink branches for the schema change's version (the interim
// sinks see no record, so every object "creates" the dataset).
func TestContractBackfillColumnAppearsPartway(t *testing.T) {
	forSinks(t, func(t *testing.T, h *harness, k sinkKind) {
		bucket := h.s3.UniqueBucket(t)
		var early, late []string
		for id := 1; id <= 50; id++ {
			early = append(early, fmt.Sprintf("%d,%d.25", id, id))
		}
		for id := 51; id <= 80; id++ {
			late = append(late, fmt.Sprintf("%d,%d.25,u%d@example.com", id, id, id))
		}
		h.s3.Put(t, bucket, "exports/2024-01.csv", csvOf("id,amount", early...))
		h.s3.Put(t, bucket, "exports/2024-06.csv", csvOf("id,amount,email", late...))
		cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)

		var res jobs.IngestResult
		if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "exports/", "backfill"), &res); err != nil {
			t.Fatal(err)
		}
		if res.Objects != 2 || res.Rows != 80 || res.Failed != 0 {
			t.Fatalf("result %+v", res)
		}
		tb := k.read(t, h, "ws-a", "backfill")
		if got := fmt.Sprint(tb.nonNull()); got != "map[amount:80 email:30 id:80]" {
			t.Fatalf("non-null values per column = %s, want the source's", got)
		}
		if tb.types["email"] != "string" || tb.types["id"] != "int64" || tb.types["amount"] != "float64" {
			t.Fatalf("types %v", tb.types)
		}
		ids, emails := tb.col(t, "id"), tb.col(t, "email")
		for i := range ids {
			id := ids[i].(int64)
			if (id <= 50) != (emails[i] == nil) || (id > 50 && emails[i] != fmt.Sprintf("u%d@example.com", id)) {
				t.Fatalf("row id %d email %v", id, emails[i])
			}
		}
		// The result lists the creation and the column email, with its
		// type, added by 2024-06.csv (whichever object committed first).
		seen := map[string]bool{}
		for _, c := range res.SchemaChanges {
			for _, col := range c.Added {
				seen[col.Name+" "+col.Type.String()] = true
				if col.Name == "email" && !strings.Contains(c.Object, "2024-06.csv") {
					t.Fatalf("email added by %s", c.Object)
				}
			}
		}
		if !seen["id int64"] || !seen["amount float64"] || !seen["email string"] || !res.SchemaChanges[0].Created {
			t.Fatalf("schema changes %+v", res.SchemaChanges)
		}
		// Needs the sink branches: one creation (version 1), at most one
		// more change (version 2), never two creations.
		created := 0
		for _, c := range res.SchemaChanges {
			if c.Created {
				created++
			}
		}
		if created != 1 {
			t.Fatalf("%d changes created the dataset: %+v", created, res.SchemaChanges)
		}
	})
}

// TestContractTypeConflictAcrossJobs: a second job whose id values are text
// rejects those rows with the reason; the dataset keeps one type for id.
// Needs the sink branches (the interim sinks know no dataset record).
func TestContractTypeConflictAcrossJobs(t *testing.T) {
	forSinks(t, func(t *testing.T, h *harness, k sinkKind) {
		bucket := h.s3.UniqueBucket(t)
		h.s3.Put(t, bucket, "a/1.csv", csvOf("id,name", "1,one", "2,two", "3,three"))
		h.s3.Put(t, bucket, "b/2.csv", csvOf("id,name", "4,four", "x5,five", "6,six", "x7,seven"))
		cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)
		if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "a/", "conflict"), nil); err != nil {
			t.Fatal(err)
		}
		var res jobs.IngestResult
		budget := func(p *jobs.IngestPayload) { p.ErrorBudget.ObjectMaxRows = 5 }
		if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "b/", "conflict", budget), &res); err != nil {
			t.Fatal(err)
		}
		if res.Rows != 2 || res.Rejected != 2 || len(res.Rejects) != 2 || len(res.SchemaChanges) != 0 {
			t.Fatalf("result %+v", res)
		}
		for _, r := range res.Rejects {
			if r.Column != "id" || !strings.HasPrefix(r.Value, "x") || !strings.Contains(r.Error, "int64") {
				t.Fatalf("reject %+v: want the id value and the reason", r)
			}
		}
		if !strings.Contains(strings.Join(res.Warnings, "\n"), `column "id" is int64 in the dataset but string in this object`) {
			t.Fatalf("warnings %q", res.Warnings)
		}
		tb := k.read(t, h, "ws-a", "conflict")
		if tb.types["id"] != "int64" || len(tb.rows) != 5 {
			t.Fatalf("dataset types %v, %d rows", tb.types, len(tb.rows))
		}
		if k.dsn == "" { // every part file has id as int64
			for _, p := range partSchemas(t, h, "ws-a", "conflict") {
				if i := p.Index("id"); i < 0 || p.Fields[i].Type != schema.Int64 {
					t.Fatalf("a part has id as %s", p)
				}
			}
		}
	})
}

// partSchemas returns the schema of each part file of a file-sink dataset.
func partSchemas(t *testing.T, h *harness, ws, dataset string) []*schema.Schema {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(h.datasetDir(ws, dataset), "part-*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*schema.Schema
	for _, p := range paths {
		_, s, err := sink.ReadPart(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestContractNullInALaterObjectLoads: inferred columns are nullable, so an
// object whose sample had no nulls does not make a later null fail.
func TestContractNullInALaterObjectLoads(t *testing.T) {
	forSinks(t, func(t *testing.T, h *harness, k sinkKind) {
		bucket := h.s3.UniqueBucket(t)
		h.s3.Put(t, bucket, "n/1.csv", csvOf("id,amount", "1,1.5", "2,2.5"))
		h.s3.Put(t, bucket, "n/2.csv", csvOf("id,amount", "3,", "4,4.5"))
		cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)
		var res jobs.IngestResult
		if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "n/1", "nulls"), &res); err != nil {
			t.Fatal(err)
		}
		if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "n/2", "nulls"), &res); err != nil {
			t.Fatal(err)
		}
		if res.Rows != 2 || res.Rejected != 0 {
			t.Fatalf("result %+v", res)
		}
		if got := fmt.Sprint(k.read(t, h, "ws-a", "nulls").nonNull()); got != "map[amount:3 id:4]" {
			t.Fatalf("non-null values %s", got)
		}
	})
}

// TestContractPinnedSchemaAndHints: a pinned schema types the columns
// (amount as text though it looks numeric) and enforces NOT NULL (a row
// without id is rejected with the reason); hints type some columns and
// leave the others inferred.
func TestContractPinnedSchemaAndHints(t *testing.T) {
	forSinks(t, func(t *testing.T, h *harness, k sinkKind) {
		bucket := h.s3.UniqueBucket(t)
		h.s3.Put(t, bucket, "p/1.csv", csvOf("id,amount,zip", "1,1.50,01234", ",2.5,02345", "3,3,03456"))
		cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)

		var res jobs.IngestResult
		pinned := func(p *jobs.IngestPayload) {
			p.ErrorBudget.ObjectMaxRows = 5
			p.Contract.Schema = []jobs.ColumnSpec{{Name: "id", Type: schema.Int64, NotNull: true},
				{Name: "amount", Type: schema.String}, {Name: "zip", Type: schema.String}}
		}
		if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "p/", "pinned", pinned), &res); err != nil {
			t.Fatal(err)
		}
		if res.Rows != 2 || res.Rejected != 1 || res.Rejects[0].Line != 3 || res.Rejects[0].Column != "id" {
			t.Fatalf("result %+v", res)
		}
		tb := k.read(t, h, "ws-a", "pinned")
		if fmt.Sprint(tb.types) != "map[amount:string id:int64 zip:string]" {
			t.Fatalf("types %v", tb.types)
		}
		if got := fmt.Sprint(tb.col(t, "amount"), tb.col(t, "zip")); got != "[1.50 3] [01234 03456]" {
			t.Fatalf("amount and zip %s: want the text as given", got)
		}

		hinted := func(p *jobs.IngestPayload) {
			p.Contract.SchemaHints = []jobs.ColumnSpec{{Name: "zip", Type: schema.String}}
			p.ErrorBudget.ObjectMaxRows = 5
		}
		if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "p/", "hinted", hinted), &res); err != nil {
			t.Fatal(err)
		}
		tb = k.read(t, h, "ws-a", "hinted")
		if fmt.Sprint(tb.types) != "map[amount:float64 id:int64 zip:string]" || len(tb.rows) != 3 {
			t.Fatalf("types %v, %d rows", tb.types, len(tb.rows))
		}
	})
}

// TestContractFailModeNamesTheNewColumns: a dataset in evolution fail mode
// fails an object that brings new columns, naming them and the fix, and
// commits nothing of it. Needs the sink branches (the interim sinks know
// no dataset record).
func TestContractFailModeNamesTheNewColumns(t *testing.T) {
	forSinks(t, func(t *testing.T, h *harness, k sinkKind) {
		bucket := h.s3.UniqueBucket(t)
		h.s3.Put(t, bucket, "f/1.csv", csvOf("id", "1", "2"))
		h.s3.Put(t, bucket, "g/2.csv", csvOf("id,email", "3,c@x"))
		cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)
		strict := func(p *jobs.IngestPayload) { p.Contract.Evolution = jobs.EvolutionFail }
		if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "f/", "strict", strict), nil); err != nil {
			t.Fatal(err)
		}
		info, err := h.run(ingestTask(t, "ws-a", cred, bucket, "g/", "strict", strict), nil)
		if err == nil || info.Retried != 0 || !strings.Contains(info.LastErr, `"email" (string)`) || !strings.Contains(info.LastErr, "evolution") {
			t.Fatalf("err %v retried %d last %q", err, info.Retried, info.LastErr)
		}
		if got := fmt.Sprint(k.read(t, h, "ws-a", "strict").nonNull()); got != "map[id:2]" {
			t.Fatalf("dataset %s", got)
		}
		// A job that asks nothing gets the dataset's settings: the new
		// column still fails the object.
		info, err = h.run(ingestTask(t, "ws-a", cred, bucket, "g/", "strict"), nil)
		if err == nil || !strings.Contains(info.LastErr, "evolution fail") {
			t.Fatalf("job without settings: err %v last %q", err, info.LastErr)
		}
		// Another job asking the same dataset for other settings fails,
		// naming both.
		lax := func(p *jobs.IngestPayload) { p.Contract.Evolution = jobs.EvolutionAdd }
		info, err = h.run(ingestTask(t, "ws-a", cred, bucket, "g/", "strict", lax), nil)
		if err == nil || info.Retried != 0 || !strings.Contains(info.LastErr, `evolution: dataset "fail", job "add"`) {
			t.Fatalf("other settings: err %v retried %d last %q", err, info.Retried, info.LastErr)
		}
	})
}

// TestContractNoMatchFails: a source that matches nothing fails at once
// with the bucket, prefix and glob; a run whose objects are all loaded
// succeeds and says so.
func TestContractNoMatchFails(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "data/1.csv", csvOf("id", "1"))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)

	info, err := h.run(ingestTask(t, "ws-a", cred, bucket, "dta/", "nomatch", func(p *jobs.IngestPayload) { p.Source.Glob = "**/*.csv" }), nil)
	if err == nil || info.Retried != 0 {
		t.Fatalf("err %v retried %d", err, info.Retried)
	}
	for _, want := range []string{bucket, `prefix "dta/"`, `glob "**/*.csv"`, "check the bucket, the prefix and the glob"} {
		if !strings.Contains(info.LastErr, want) {
			t.Fatalf("error %q does not say %q", info.LastErr, want)
		}
	}

	var res jobs.IngestResult
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "data/", "nomatch"), &res); err != nil || res.Note != "" {
		t.Fatalf("first run: %v, note %q", err, res.Note)
	}
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "data/", "nomatch"), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Done || res.Skipped != 1 || !strings.Contains(res.Note, "all 1 matching objects were already loaded") {
		t.Fatalf("second run %+v", res)
	}
}

// TestContractMixedCSVAndNDJSON: each object is sniffed on its own, so a
// prefix mixing CSV and NDJSON loads both (the NDJSON's extra key becomes a
// column).
func TestContractMixedCSVAndNDJSON(t *testing.T) {
	forSinks(t, func(t *testing.T, h *harness, k sinkKind) {
		bucket := h.s3.UniqueBucket(t)
		h.s3.Put(t, bucket, "m/a.csv", csvOf("id,amount", "1,1.5", "2,2.5"))
		var nd bytes.Buffer
		for id := 3; id <= 5; id++ {
			fmt.Fprintf(&nd, `{"id":%d,"amount":%d.5,"tag":"t%d"}`+"\n", id, id, id)
		}
		h.s3.Put(t, bucket, "m/b.ndjson", nd.Bytes())
		cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)
		var res jobs.IngestResult
		if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "m/", "mixed"), &res); err != nil {
			t.Fatal(err)
		}
		if res.Objects != 2 || res.Rows != 5 || res.Rejected != 0 {
			t.Fatalf("result %+v", res)
		}
		tb := k.read(t, h, "ws-a", "mixed")
		if got := fmt.Sprint(tb.nonNull()); got != "map[amount:5 id:5 tag:3]" {
			t.Fatalf("non-null values %s", got)
		}
	})
}

// TestContractLineageColumns: with lineage, every row says which object,
// version and line it came from and when it was loaded.
func TestContractLineageColumns(t *testing.T) {
	forSinks(t, func(t *testing.T, h *harness, k sinkKind) {
		bucket := h.s3.UniqueBucket(t)
		h.s3.Put(t, bucket, "l/a.csv", csvOf("id", "10", "20", "30"))
		cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)
		before := time.Now().Add(-time.Second)
		var res jobs.IngestResult
		if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "l/", "lineage", func(p *jobs.IngestPayload) { p.Contract.Lineage = true }), &res); err != nil {
			t.Fatal(err)
		}
		tb := k.read(t, h, "ws-a", "lineage")
		if got := strings.Join(tb.cols, ","); got != "id,_source_key,_source_version,_ingested_at,_source_line" {
			t.Fatalf("columns %s", got)
		}
		ids, keys, versions, at, lines := tb.col(t, "id"), tb.col(t, "_source_key"), tb.col(t, "_source_version"), tb.col(t, "_ingested_at"), tb.col(t, "_source_line")
		for i := range ids {
			id := ids[i].(int64)
			if keys[i] != "s3://"+bucket+"/l/a.csv" || lines[i] != id/10+1 || versions[i] == nil || versions[i] == "" {
				t.Fatalf("row %d: key %v line %v version %v", id, keys[i], lines[i], versions[i])
			}
			ts, err := time.Parse(time.RFC3339Nano, at[i].(string))
			if err != nil || ts.Before(before) || ts.After(time.Now()) {
				t.Fatalf("row %d ingested at %v (%v)", id, at[i], err)
			}
		}
	})
}

// TestContractModifiedObjects: a re-uploaded object (same key, new ETag)
// replaces its earlier rows (default), is added beside them (append) or is
// skipped and reported (skip). Needs the sink branches (the interim sinks'
// Lookup never reports earlier versions).
func TestContractModifiedObjects(t *testing.T) {
	forSinks(t, func(t *testing.T, h *harness, k sinkKind) {
		bucket := h.s3.UniqueBucket(t)
		cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)
		for _, policy := range []jobs.Modified{jobs.ModifiedReplace, jobs.ModifiedAppend, jobs.ModifiedSkip} {
			prefix, dataset := "mod-"+string(policy)+"/", "mod_"+string(policy)
			set := func(p *jobs.IngestPayload) { p.Contract.Modified = policy }
			h.s3.Put(t, bucket, prefix+"a.csv", csvOf("id,amount", "1,10.5", "2,99.5"))
			if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, prefix, dataset, set), nil); err != nil {
				t.Fatal(err)
			}
			h.s3.Put(t, bucket, prefix+"a.csv", csvOf("id,amount", "1,10.5", "2,20.5", "3,30.5")) // corrected
			var res jobs.IngestResult
			if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, prefix, dataset, set), &res); err != nil {
				t.Fatal(err)
			}
			want := map[jobs.Modified]string{
				jobs.ModifiedReplace: "[10.5 20.5 30.5]",
				jobs.ModifiedAppend:  "[10.5 10.5 20.5 30.5 99.5]",
				jobs.ModifiedSkip:    "[10.5 99.5]",
			}[policy]
			amounts := k.read(t, h, "ws-a", dataset).col(t, "amount")
			sortAny(amounts)
			if got := fmt.Sprint(amounts); got != want {
				t.Fatalf("%s: amounts %s, want %s", policy, got, want)
			}
			if policy == jobs.ModifiedSkip {
				if res.SkippedModified != 1 || len(res.ModifiedKeys) != 1 || !strings.HasSuffix(res.ModifiedKeys[0], prefix+"a.csv") || !strings.Contains(res.Note, "modified policy skip") {
					t.Fatalf("skip: result %+v", res)
				}
			} else if res.Objects != 1 {
				t.Fatalf("%s: result %+v", policy, res)
			}
		}
	})
}

// sortAny sorts float64 values in place.
func sortAny(v []any) {
	sort.Slice(v, func(i, j int) bool { return v[i].(float64) < v[j].(float64) })
}

// TestContractRescueLosesNothing: in rescue mode, for objects full of drift
// (a new column, a renamed one) and bad values (text in a number column),
// nothing is rejected and, per source column, the source's non-null values
// = the dataset's values + the values rescued into _rescued.
func TestContractRescueLosesNothing(t *testing.T) {
	forSinks(t, func(t *testing.T, h *harness, k sinkKind) {
		bucket := h.s3.UniqueBucket(t)
		h.s3.Put(t, bucket, "r/1.csv", csvOf("id,amount", "1,1.5", "2,2.5", "3,3.5"))
		// A new column, a bad amount, a missing amount.
		h.s3.Put(t, bucket, "r/2.csv", csvOf("id,amount,email", "4,12.3.4,d@x", "5,5.5,e@x", "6,,f@x"))
		// A renamed column (amt) and a bad id.
		h.s3.Put(t, bucket, "r/3.ndjson", []byte(`{"id":7,"amt":7.5}`+"\n"+`{"id":"eight","amount":8.5}`+"\n"))
		// Parquet: id as text (another type: rescued whole), amount
		// fits, and a column outside the dataset.
		type pqRow struct {
			ID     string  `parquet:"id"`
			Amount float64 `parquet:"amount"`
			Note   string  `parquet:"note"`
		}
		var pq bytes.Buffer
		pw := parquet.NewGenericWriter[pqRow](&pq)
		if _, err := pw.Write([]pqRow{{ID: "nine", Amount: 9.5, Note: "n9"}, {ID: "ten", Amount: 10.5, Note: "n10"}}); err != nil {
			t.Fatal(err)
		}
		if err := pw.Close(); err != nil {
			t.Fatal(err)
		}
		h.s3.Put(t, bucket, "r/4.parquet", pq.Bytes())
		cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)
		var res jobs.IngestResult
		_, err := h.run(ingestTask(t, "ws-a", cred, bucket, "r/", "rescued", func(p *jobs.IngestPayload) {
			p.Contract.Evolution = jobs.EvolutionRescue
			p.Concurrency = 1
		}), &res)
		if err != nil {
			t.Fatalf("rescue ingest: %v (%+v)", err, res.Errors)
		}
		if res.Rejected != 0 || res.Rows != 10 {
			t.Fatalf("rows %d rejected %d, want 10 and 0", res.Rows, res.Rejected)
		}
		tb := k.read(t, h, "ws-a", "rescued")
		if tb.types["amount"] != "float64" || tb.types["id"] != "int64" || tb.types[sink.RescueColumn] != "json" {
			t.Fatalf("types %v", tb.types)
		}
		for _, c := range tb.cols {
			if c == "email" || c == "amt" || c == "note" {
				t.Fatalf("column %q was added in rescue mode: %v", c, tb.cols)
			}
		}
		// Count per source column: loaded non-null values + rescued values.
		loaded := tb.nonNull()
		rescued := map[string]int{}
		for _, v := range tb.col(t, sink.RescueColumn) {
			if v == nil {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(fmt.Sprint(v)), &m); err != nil {
				t.Fatalf("rescued value %v is not a JSON object: %v", v, err)
			}
			for k := range m {
				rescued[k]++
			}
		}
		source := map[string]int{"id": 10, "amount": 8, "email": 3, "amt": 1, "note": 2}
		for col, want := range source {
			if got := loaded[col] + rescued[col]; got != want {
				t.Errorf("column %s: %d loaded + %d rescued = %d, want the source's %d", col, loaded[col], rescued[col], got, want)
			}
		}
	})
}
