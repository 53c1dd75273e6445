package parsers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/parserstest"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// rescueSchema parses "name type?" pairs like schema.Schema.String and
// appends the nullable json column _rescued.
func rescueSchema(tb testing.TB, s string) *schema.Schema {
	tb.Helper()
	out := &schema.Schema{}
	for _, f := range strings.Split(s, ", ") {
		name, typ, _ := strings.Cut(f, " ")
		nullable := strings.HasSuffix(typ, "?")
		t, err := schema.ParseType(strings.TrimSuffix(typ, "?"))
		if err != nil {
			tb.Fatal(err)
		}
		out.Fields = append(out.Fields, schema.Field{Name: name, Type: t, Nullable: nullable})
	}
	out.Fields = append(out.Fields, schema.Field{Name: "_rescued", Type: schema.JSON, Nullable: true})
	return out
}

func rescueOpts(tb testing.TB, s string) parsers.Options {
	return parsers.Options{Schema: rescueSchema(tb, s), RescueColumn: "_rescued"}
}

func rj(s string) json.RawMessage { return json.RawMessage(s) }

// The rescue cases of the text formats: files full of drift (columns the
// schema lacks, a source column named like the rescue column) and bad
// values, plus broken rows that are still rejected.
func rescueTextCases(tb testing.TB) []parserstest.RescueCase {
	csvOpts := rescueOpts(tb, "id int64?, amount float64?, name string?, when date?")
	csvOpts.SampleRows = 2 // later rows come from the stream, not the sample
	jsonOpts := rescueOpts(tb, "id int64?, amount float64?, u.name string?, tags json?")
	jsonOpts.SampleRows = 2
	return []parserstest.RescueCase{
		{Case: parserstest.Case{Name: "csv/rescue-drift", Object: "t.csv", Format: parsers.FormatCSV, Text: true, Opts: csvOpts,
			Data: parserstest.Str("id,email,amount,name,when,extra\n" +
				"1,a@b.c,12.5,alice,2024-01-02,x\n" +
				"2,,12.3.4,\"bob \"\"b\"\"\",not-a-date,\n" +
				"x,c@d.e,NULL,,yesterday,\"multi\nline\\\"\n" +
				"4,\"\",7,dave,2024-03-04,NULL\n" +
				"5,e@f.g,1,eve,2024-03-05\n" + // ragged: still rejected
				"6,,,,,\n"),
			Schema: "id int64?, amount float64?, name string?, when date?, _rescued json?",
			Rows: [][]any{
				{int64(1), 12.5, "alice", "2024-01-02", rj(`{"email":"a@b.c","extra":"x"}`)},
				{int64(2), nil, `bob "b"`, nil, rj(`{"amount":"12.3.4","when":"not-a-date"}`)},
				{nil, nil, nil, nil, rj(`{"id":"x","email":"c@d.e","when":"yesterday","extra":"multi\nline\\"}`)},
				{int64(4), 7.0, "dave", "2024-03-04", rj(`{"email":""}`)},
				{int64(6), nil, nil, nil, nil},
			},
			Lines:   []int64{2, 3, 4, 6, 8},
			Rejects: []parserstest.WantError{{Is: parsers.ErrCorrupt, Line: 7}}},
			Source: []map[string]string{
				{"id": "1", "email": "a@b.c", "amount": "12.5", "name": "alice", "when": "2024-01-02", "extra": "x"},
				{"id": "2", "amount": "12.3.4", "name": `bob "b"`, "when": "not-a-date"},
				{"id": "x", "email": "c@d.e", "when": "yesterday", "extra": "multi\nline\\"},
				{"id": "4", "email": "", "amount": "7", "name": "dave", "when": "2024-03-04"},
				{"id": "6"},
			}},
		{Case: parserstest.Case{Name: "csv/rescue-own-name-no-header", Object: "t.csv", Format: parsers.FormatCSV, Text: true,
			Opts: rescueOpts(tb, "_rescued_x int64?"), // no column of the file is in the schema
			Data: parserstest.Str("_rescued,n\n{\"a\":1},\t2\x01\n"),
			Rows: [][]any{{nil, rj(`{"_rescued":"{\"a\":1}","n":"\t2\u0001"}`)}}},
			Source: []map[string]string{{"_rescued": `{"a":1}`, "n": "\t2\x01"}}},
		{Case: parserstest.Case{Name: "json/rescue-drift", Object: "t.json", Format: parsers.FormatJSON, Text: true, Opts: jsonOpts,
			Data: parserstest.Str(`{"id":1,"email":"a@b.c","amount":12.5,"u":{"name":"al","age":30},"tags":[1]}` + "\n" +
				`{"id":"two","amount":"12.3.4","u":{"name":null},"x":null,"deep":{"a":{"b":{"c":{"d":1}}}}}` + "\n" +
				`{"id":3.5,"amount":"n\/a","_rescued":{"old":"q\"\n"},"k":"v","k":false}` + "\n" +
				`{"bad json` + "\n" +
				`{"id":4}` + "\n" +
				`[1]` + "\n"),
			Schema: "id int64?, amount float64?, u.name string?, tags json?, _rescued json?",
			Rows: [][]any{
				{int64(1), 12.5, "al", rj(`[1]`), rj(`{"email":"a@b.c","u.age":30}`)},
				{nil, nil, nil, nil, rj(`{"id":"two","amount":"12.3.4","deep.a.b.c":{"d":1}}`)},
				{nil, nil, nil, nil, rj(`{"id":3.5,"amount":"n/a","_rescued":{"old":"q\"\n"},"k":false}`)},
				{int64(4), nil, nil, nil, nil},
			},
			Lines: []int64{1, 2, 3, 5},
			Rejects: []parserstest.WantError{{Is: parsers.ErrCorrupt, Line: 4},
				{Is: parsers.ErrCorrupt, Line: 6, Contains: "not a JSON object"}}},
			Source: []map[string]string{
				{"id": "1", "email": "a@b.c", "amount": "12.5", "u.name": "al", "u.age": "30", "tags": "[1]"},
				{"id": "two", "amount": "12.3.4", "deep.a.b.c": `{"d":1}`},
				{"id": "3.5", "amount": "n/a", "_rescued": `{"old":"q\"\n"}`, "k": "false"},
				{"id": "4"},
			}},
		{Case: parserstest.Case{Name: "json/rescue-array-many-keys", Object: "t.json", Format: parsers.FormatJSON, Text: true,
			Opts: rescueOpts(tb, "a int64?"),
			// 20 unknown keys, one repeated: the map path of the de-duplication
			Data: parserstest.Str(`[{"a":1,` + manyKeys(20) + `,"k3":"last"},` + "\n" + `{"a":"b"}]`),
			Rows: [][]any{
				{int64(1), rj(`{` + strings.Replace(manyKeys(20), `"k3":3,`, ``, 1) + `,"k3":"last"}`)},
				{nil, rj(`{"a":"b"}`)},
			}},
			Source: []map[string]string{manyKeysSource(20), {"a": "b"}}},
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + string(rune('a'+i)) + `":` + string(rune('0'+i%10)))
	}
	return strings.NewReplacer(`"kd"`, `"k3"`).Replace(b.String())
}

func manyKeysSource(n int) map[string]string {
	m := map[string]string{"a": "1"}
	for i := range n {
		m["k"+string(rune('a'+i))] = string(rune('0' + i%10))
	}
	m["k3"] = "last"
	delete(m, "kd")
	return m
}

func TestRescueConformance(t *testing.T) { parserstest.RunRescue(t, rescueTextCases(t)...) }

// readAll opens data with opts and returns its rows (Vector.Value form),
// the rejects and the warnings.
func readAll(tb testing.TB, name string, data []byte, opts parsers.Options) ([][]any, []*parsers.ParseError, []string) {
	tb.Helper()
	var rejects []*parsers.ParseError
	var warnings []string
	opts.OnReject = func(pe *parsers.ParseError) error { rejects = append(rejects, pe); return nil }
	opts.OnWarning = func(m string) { warnings = append(warnings, m) }
	r, err := parsers.Open(context.Background(), parsers.BytesObject(name, data), opts)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var rows [][]any
	b := schema.NewBatch(r.Schema(), 0)
	for {
		err := r.Next(context.Background(), b)
		if err == io.EOF {
			return rows, rejects, warnings
		}
		if err != nil {
			tb.Fatal(err)
		}
		for i := 0; i < b.Len(); i++ {
			rows = append(rows, b.Row(i))
		}
	}
}

func TestRescueOptionErrors(t *testing.T) {
	pq := writeParquet(t, []struct {
		ID int64 `parquet:"id"`
	}{{1}})
	objects := []struct {
		name string
		data []byte
	}{{"t.csv", []byte("id\n1\n")}, {"t.json", []byte(`{"id":1}` + "\n")}, {"t.parquet", pq}}
	base := func(s *schema.Schema) parsers.Options { return parsers.Options{Schema: s, RescueColumn: "_rescued"} }
	good := rescueSchema(t, "id int64?")
	notNull := rescueSchema(t, "id int64?")
	notNull.Fields[1].Nullable = false
	str := rescueSchema(t, "id int64?")
	str.Fields[1].Type = schema.String
	for _, tc := range []struct {
		name string
		opts parsers.Options
		want string
	}{
		{"no schema", base(nil), `rescue_column "_rescued" is set without a schema`},
		{"not in schema", base(&schema.Schema{Fields: good.Fields[:1]}), `rescue_column "_rescued" is not a column of the schema`},
		{"not json", base(str), `rescue_column "_rescued" is string in the schema, not json`},
		{"not nullable", base(notNull), `rescue_column "_rescued" is not nullable`},
	} {
		for _, o := range objects {
			t.Run(tc.name+"/"+o.name, func(t *testing.T) {
				for _, preview := range []bool{false, true} {
					var err error
					if preview {
						_, err = parsers.Preview(context.Background(), parsers.BytesObject(o.name, o.data), tc.opts, 0, 0)
					} else {
						_, err = parsers.Open(context.Background(), parsers.BytesObject(o.name, o.data), tc.opts)
					}
					var pe *parsers.ParseError
					if !errors.As(err, &pe) || !errors.Is(err, parsers.ErrUnsupported) || !strings.Contains(err.Error(), tc.want) || pe.Fix() == "" {
						t.Fatalf("preview %v: %v, want a *ParseError (unsupported, with a fix) containing %q", preview, err, tc.want)
					}
				}
			})
		}
	}
	// the same schema without RescueColumn opens, and so does the valid
	// rescue setup, in every format
	for _, o := range objects {
		for _, opts := range []parsers.Options{{Schema: good}, base(good)} {
			if _, err := parsers.Open(context.Background(), parsers.BytesObject(o.name, o.data), opts); err != nil {
				t.Fatalf("%s, rescue %q: %v", o.name, opts.RescueColumn, err)
			}
			if _, err := parsers.Preview(context.Background(), parsers.BytesObject(o.name, o.data), opts, 0, 0); err != nil {
				t.Fatalf("%s, rescue %q: preview: %v", o.name, opts.RescueColumn, err)
			}
		}
	}
}

// Without rescue, columns outside the schema are warned about (and
// dropped); in rescue mode their values are kept, without a warning.
func TestRescueWarnings(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"t.csv", "id,extra\n1,x\n"},
		{"t.json", `{"id":1,"extra":"x"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sch := rescueSchema(t, "id int64?")
			_, _, warned := readAll(t, tc.name, []byte(tc.data), parsers.Options{Schema: sch})
			if !strings.Contains(strings.Join(warned, "\n"), `"extra"`) {
				t.Fatalf("without rescue: warnings %q, want one about extra", warned)
			}
			rows, _, warned := readAll(t, tc.name, []byte(tc.data), parsers.Options{Schema: sch, RescueColumn: "_rescued"})
			if len(warned) != 0 {
				t.Fatalf("rescue: warnings %q, want none", warned)
			}
			if len(rows) != 1 || string(rows[0][1].(json.RawMessage)) != `{"extra":"x"}` {
				t.Fatalf("rescue: rows %v", rows)
			}
		})
	}
}

// A bad value in a column the schema says is not nullable cannot become
// null: the row is rejected as without rescue; so is a null there.
func TestRescueNotNullableRejects(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"t.csv", "id,n\n1,a\nx,b\n,c\n"},
		{"t.json", `{"id":1,"n":"a"}` + "\n" + `{"id":"x","n":"b"}` + "\n" + `{"n":"c"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sch := rescueSchema(t, "id int64")
			rows, rejects, _ := readAll(t, tc.name, []byte(tc.data), parsers.Options{Schema: sch, RescueColumn: "_rescued"})
			if len(rows) != 1 || rows[0][0] != int64(1) || string(rows[0][1].(json.RawMessage)) != `{"n":"a"}` {
				t.Fatalf("rows %v", rows)
			}
			if len(rejects) != 2 || !errors.Is(rejects[0], parsers.ErrType) || rejects[0].Column != "id" ||
				rejects[0].Line != 3 && rejects[0].Line != 2 || !strings.Contains(rejects[1].Error(), "not nullable") {
				t.Fatalf("rejects %v", rejects)
			}
		})
	}
}

// A row whose rescued JSON would pass twice max_line_bytes is rejected
// (ErrTooLarge); the rows around it load.
func TestRescueTooLarge(t *testing.T) {
	ctl := strings.Repeat("\x01", 50) // 50 bytes, 300 as JSON
	for _, tc := range []struct {
		name, data string
		line       int64
	}{
		{"t.csv", "id,n\n1,a\n2," + ctl + "\n3,b\n", 3},
		// control characters in a JSON string are read leniently
		{"t.json", `{"id":1,"n":"a"}` + "\n" + `{"id":2,"n":"` + ctl + `"}` + "\n" + `{"id":3,"n":"b"}` + "\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := parsers.Options{Schema: rescueSchema(t, "id int64?"), RescueColumn: "_rescued", MaxLineBytes: 100}
			rows, rejects, _ := readAll(t, tc.name, []byte(tc.data), opts)
			if len(rows) != 2 || rows[0][0] != int64(1) || rows[1][0] != int64(3) {
				t.Fatalf("rows %v", rows)
			}
			if len(rejects) != 1 || !errors.Is(rejects[0], parsers.ErrTooLarge) || rejects[0].Line != tc.line || rejects[0].Column != "n" {
				t.Fatalf("rejects %v", rejects)
			}
		})
	}
}

// The rescued JSON counts toward a batch's text: rows whose rescued
// values are several times their size (control characters escape as
// \u00XX) end a batch early, where without it all rows would fit.
func TestRescueBatchBytes(t *testing.T) {
	const rows = 12
	val := bytes.Repeat([]byte{1}, 1<<20) // 1 MiB, 6 MiB as JSON
	var data bytes.Buffer
	data.WriteString("id,n\n")
	for i := range rows {
		data.WriteString(string(rune('0'+i%10)) + ",")
		data.Write(val)
		data.WriteByte('\n')
	}
	opts := parsers.Options{Schema: rescueSchema(t, "id int64?"), RescueColumn: "_rescued", SampleRows: 1}
	r, err := parsers.Open(context.Background(), parsers.BytesObject("t.csv", data.Bytes()), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := schema.NewBatch(r.Schema(), 0)
	total, batches := 0, 0
	for {
		err := r.Next(context.Background(), b)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		batches++
		total += b.Len()
		text := len(b.Cols[1].Bytes)
		if text > shared.MaxBatchBytes+7<<20 {
			t.Fatalf("batch of %d rows holds %d bytes of rescued text, over %d + one row", b.Len(), text, shared.MaxBatchBytes)
		}
	}
	if total != rows || batches < 3 {
		t.Fatalf("%d rows in %d batches, want %d rows in 3 or more batches (12 MiB of input fits one batch)", total, batches, rows)
	}
}
