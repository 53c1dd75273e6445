package parsers

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

func TestJSONFlattenDepth(t *testing.T) {
	doc := `{"a":{"b":{"c":{"d":1}}},"l":[1,{"x":2}],"s":"x"}` + "\n"
	for _, tc := range []struct {
		depth int
		want  string
	}{
		{-1, "a json, l json, s string"},
		{1, "a.b json, l json, s string"},
		{2, "a.b.c json, l json, s string"},
		{0, "a.b.c.d int64, l json, s string"}, // default 3
	} {
		r, rows := readRows(t, "t.json", []byte(doc), Options{JSON: JSONOptions{MaxDepth: tc.depth}})
		if got := r.Schema().String(); got != tc.want {
			t.Errorf("depth %d: schema %q, want %q", tc.depth, got, tc.want)
		}
		if len(rows) != 1 {
			t.Errorf("depth %d: rows %v", tc.depth, rows)
		}
	}
}

func TestJSONValues(t *testing.T) {
	data := `{"s":"tab\there \"q\" \u00e9 \ud83d\ude00","n":-1.5e2,"i":12,"b":true,"z":null,"o":{},"big":12345678901234567890}` + "\n"
	_, rows := readRows(t, "t.json", []byte(data), Options{})
	want := []any{"tab\there \"q\" é 😀", -150.0, int64(12), true, nil, 12345678901234567890.0}
	if !reflect.DeepEqual(rows[0], want) {
		t.Fatalf("row %#v, want %#v", rows[0], want)
	}
}

func TestJSONUnknownKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"a":1}` + "\n")
	b.WriteString(`{"a":2,"late":1}` + "\n")
	b.WriteString(`{"a":3,"late":2,"later":3}` + "\n")
	var warnings []string
	r, rows := readRows(t, "t.json", []byte(b.String()), Options{SampleRows: 1, OnWarning: func(m string) { warnings = append(warnings, m) }})
	if r.Schema().String() != "a int64?" || len(rows) != 3 {
		t.Fatalf("%s %v", r.Schema(), rows)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], `key "late"`) || !strings.Contains(warnings[1], `key "later"`) {
		t.Fatalf("warnings %q", warnings)
	}
}

func TestJSONExplicitSchema(t *testing.T) {
	sch := &schema.Schema{Fields: []schema.Field{
		{Name: "obj", Type: schema.JSON, Nullable: true},
		{Name: "n", Type: schema.Int64, Nullable: true},
		{Name: "ts", Type: schema.Timestamp, Nullable: true},
		{Name: "s", Type: schema.String, Nullable: true},
	}}
	data := `{"obj":{"k":[1]},"n":"42","ts":"2024-01-02","s":7}` + "\n" + `{"s":{"x":1},"obj":"str"}` + "\n"
	_, rows := readRows(t, "t.json", []byte(data), Options{Schema: sch})
	for i := range rows {
		normalizeRow(rows[i])
	}
	want := [][]any{{`json:{"k":[1]}`, int64(42), "2024-01-02T00:00:00Z", "7"}, {`json:"str"`, nil, nil, `{"x":1}`}}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
}

func TestJSONArrayErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		line, byt  int64
		contains   string
	}{
		{"unclosed", "[{\"a\":1},\n{\"a\":2}", 2, 8, "not closed"},
		{"trailing-comma", "[{\"a\":1},\n]", 2, 1, "','"},
		{"garbage-after", "[{\"a\":1}]\nx", 2, 1, "after the end"},
		{"bad-value", "[{\"a\":1},\n  {\"a\":tru}]", 2, 11, "invalid literal"},
		{"bad-string-escape", "[{\"a\":\"\\x\"}]", 1, 9, "invalid escape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(context.Background(), BytesObject("t.json", []byte(tc.data)), Options{})
			if err == nil {
				b := schema.NewBatch(r.Schema(), 8)
				for err == nil {
					err = r.Next(context.Background(), b)
				}
			}
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v", err)
			}
			if pe.Line != tc.line || pe.Byte != tc.byt || !strings.Contains(pe.Error(), tc.contains) {
				t.Fatalf("got line %d byte %d %q; want line %d byte %d %q", pe.Line, pe.Byte, pe.Error(), tc.line, tc.byt, tc.contains)
			}
		})
	}
}

func TestNDJSONLongLine(t *testing.T) {
	data := `{"a":1}` + "\n" + `{"a":"` + strings.Repeat("x", 1000) + `"}` + "\n" + `{"a":3}` + "\n"
	var rejects []*ParseError
	_, rows := readRows(t, "t.json", []byte(data), Options{MaxLineBytes: 100, SampleRows: 1,
		OnReject: func(pe *ParseError) error { rejects = append(rejects, pe); return nil }})
	if len(rows) != 2 || len(rejects) != 1 || rejects[0].Line != 2 || !errors.Is(rejects[0], ErrTooLarge) {
		t.Fatalf("rows %v rejects %v", rows, rejects)
	}
}

func TestScanString(t *testing.T) {
	for _, s := range []string{`"`, `abc"`, `abcdefghijklmnop"x`, `a\"b"`, `a\\"`, `\\\\\\\\\\"`, `abcdefgh\"ijklmnop"`, `abc`, `abc\`, `aaaaaaaaaaaaaaaaaaaaaaa\\aaaaa"`} {
		want := -1
		esc := false
		for i := 0; i < len(s); i++ {
			if s[i] == '\\' {
				esc = true
				i++
				continue
			}
			if s[i] == '"' {
				want = i
				break
			}
		}
		got, gotEsc := scanString([]byte(s), 0)
		if got != want || (got >= 0 && gotEsc != esc) {
			t.Errorf("scanString(%q) = %d, %v; want %d, %v", s, got, gotEsc, want, esc)
		}
	}
}

func TestJSONConcatenated(t *testing.T) {
	data := "{\n  \"a\": 1,\n  \"b\": {\"c\": \"x\"}\n}\n{\"a\": 2,\n \"b\": {\"c\": \"y\"}} {\"a\": 3}\n"
	r, rows := readRows(t, "t.json", []byte(data), Options{})
	if r.Info().JSONLayout != "concatenated" || r.Schema().String() != "a int64, b.c string?" || len(rows) != 3 {
		t.Fatalf("%+v %s %v", r.Info(), r.Schema(), rows)
	}
	// a syntax error is fatal, with its position
	r2, err := Open(context.Background(), BytesObject("t.json", []byte("{\n \"a\": 1\n}\n{\n \"a\" 2}")), Options{})
	if err == nil {
		b := schema.NewBatch(r2.Schema(), 4)
		for err == nil {
			err = r2.Next(context.Background(), b)
		}
	}
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 5 || pe.Byte != 6 || !strings.Contains(err.Error(), "concatenated") {
		t.Fatalf("got %v", err)
	}
}
