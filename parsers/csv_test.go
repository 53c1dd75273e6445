package parsers

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// readRows opens data and returns the schema and all rows.
func readRows(t *testing.T, name string, data []byte, opts Options) (Reader, [][]any) {
	t.Helper()
	r, err := Open(context.Background(), BytesObject(name, data), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	b := schema.NewBatch(r.Schema(), 16)
	var rows [][]any
	for {
		err := r.Next(context.Background(), b)
		if err == io.EOF {
			return r, rows
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < b.Len(); i++ {
			rows = append(rows, b.Row(i))
		}
	}
}

func TestSniffDelimiter(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       string
	}{
		{"comma", "a,b,c\n1,2,3\n", ","},
		{"semicolon", "a;b;c\n1;2;3\n", ";"},
		{"tab", "a\tb\n1\t2\n", "\t"},
		{"pipe", "a|b\n1|2\n", "|"},
		{"semicolon-decimal-commas", "name;price\nx;1,5\ny;2,25\n", ";"},
		{"quoted-commas", "a;b\n\"x,y,z\";1\n\"p,q\";2\n", ";"},
		{"single-column", "hello\nworld\n", ","},
		{"comma-in-text-col", "a|b\nx, y|1\nz|2\n", "|"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := readRows(t, "t.csv", []byte(tc.data), Options{})
			if got := r.Info().Delimiter; got != tc.want {
				t.Fatalf("delimiter %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHeaderDetection(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		header     bool
		names      string
	}{
		{"typed-rows", "id,name\n1,a\n2,b\n", true, "id,name"},
		{"numeric-first-row", "1,a\n2,b\n", false, "c1,c2"},
		{"all-strings-distinct", "name,city\nalice,paris\nbob,rome\n", true, "name,city"},
		{"all-strings-repeated", "alice,paris\nbob,paris\n", false, "c1,c2"},
		{"only-header", "a,b\n", true, "a,b"},
		{"duplicate-and-empty-names", "a,a,,b\n1,2,3,4\n", true, "a,a_2,c3,b"},
		{"suffix-collision", "a,a,a_2\n1,2,3\n", true, "a,a_3,a_2"},
		{"empty-name-with-nulls", "x,\n1,\n2,\n", true, "x,c2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := readRows(t, "t.csv", []byte(tc.data), Options{})
			if r.Info().Header != tc.header {
				t.Errorf("header %v, want %v", r.Info().Header, tc.header)
			}
			if got := strings.Join(r.Schema().Names(), ","); got != tc.names {
				t.Errorf("names %q, want %q", got, tc.names)
			}
		})
	}
	// forced modes
	r, rows := readRows(t, "t.csv", []byte("1,2\n3,4\n"), Options{CSV: CSVOptions{Header: HeaderPresent}})
	if strings.Join(r.Schema().Names(), ",") != "1,2" || len(rows) != 1 {
		t.Fatalf("forced header: %v %v", r.Schema(), rows)
	}
	_, rows = readRows(t, "t.csv", []byte("a,b\nc,d\n"), Options{CSV: CSVOptions{Header: HeaderAbsent}})
	if len(rows) != 2 {
		t.Fatalf("forced no header: %v", rows)
	}
}

func utf16Bytes(s string, bigEndian bool) []byte {
	u := utf16.Encode([]rune(s))
	out := []byte{0xff, 0xfe}
	if bigEndian {
		out = []byte{0xfe, 0xff}
	}
	for _, c := range u {
		if bigEndian {
			out = append(out, byte(c>>8), byte(c))
		} else {
			out = append(out, byte(c), byte(c>>8))
		}
	}
	return out
}

func TestEncodings(t *testing.T) {
	want := [][]any{{"café", int64(1)}, {"naïve", int64(2)}}
	text := "name,n\ncafé,1\nnaïve,2\n"
	for _, tc := range []struct {
		name string
		data []byte
		opts Options
		enc  string
	}{
		{"utf8", []byte(text), Options{}, "utf-8"},
		{"utf8-bom", append([]byte("\xef\xbb\xbf"), text...), Options{}, "utf-8"},
		{"utf16le", utf16Bytes(text, false), Options{}, "utf-16le"},
		{"utf16be", utf16Bytes(text, true), Options{}, "utf-16be"},
		{"latin1-sniffed", []byte("name,n\ncaf\xe9,1\nna\xefve,2\n"), Options{}, "windows-1252"},
		{"latin1-configured", []byte("name,n\ncaf\xe9,1\nna\xefve,2\n"), Options{CSV: CSVOptions{Encoding: "latin-1"}}, "latin-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, rows := readRows(t, "t.csv", tc.data, tc.opts)
			if r.Info().Encoding != tc.enc {
				t.Errorf("encoding %q, want %q", r.Info().Encoding, tc.enc)
			}
			if !reflect.DeepEqual(rows, want) {
				t.Errorf("rows %v, want %v", rows, want)
			}
		})
	}
	// invalid UTF-8 after a valid head is rejected per row, naming the fix
	data := "name,n\n" + strings.Repeat("abc,1\n", 20000) + "caf\xe9,2\n"
	var rejects []*ParseError
	_, rows := readRows(t, "t.csv", []byte(data), Options{OnReject: func(pe *ParseError) error { rejects = append(rejects, pe); return nil }})
	if len(rows) != 20000 || len(rejects) != 1 || !strings.Contains(rejects[0].Hint, "csv.encoding") || rejects[0].Line != 20002 {
		t.Fatalf("%d rows, rejects %v", len(rows), rejects)
	}
}

func TestCSVExplicitSchema(t *testing.T) {
	sch := &schema.Schema{Fields: []schema.Field{
		{Name: "b", Type: schema.String, Nullable: true},
		{Name: "missing", Type: schema.Int64, Nullable: true},
		{Name: "a", Type: schema.Float64},
		{Name: "j", Type: schema.JSON, Nullable: true},
	}}
	r, rows := readRows(t, "t.csv", []byte("a,b,j\n1,x,\"{\"\"k\"\":1}\"\n2,\"\",\n"), Options{Schema: sch})
	if r.Schema() != sch {
		t.Fatal("schema not used")
	}
	want := [][]any{{"x", nil, 1.0, `json:{"k":1}`}, {"", nil, 2.0, nil}}
	for i := range rows {
		normalizeRow(rows[i])
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
	// a null in a non-nullable column is rejected
	r2, err := Open(context.Background(), BytesObject("t.csv", []byte("a\n1\nNULL\n")), Options{Schema: &schema.Schema{Fields: []schema.Field{{Name: "a", Type: schema.Int64}}}})
	if err != nil {
		t.Fatal(err)
	}
	b := schema.NewBatch(r2.Schema(), 4)
	err = r2.Next(context.Background(), b)
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, ErrType) || pe.Line != 3 || !strings.Contains(pe.Error(), "not nullable") {
		t.Fatalf("got %v", err)
	}
}

func TestSplitLine(t *testing.T) {
	for _, line := range []string{"", ",", "a", "a,b", ",,,,,,,,,,,,,,,,,", "abcdefgh,ijklmnop,q", "\x01,\x01,,\x01\x01,a,\x2d\x2c\x2b,é,ü,,x",
		strings.Repeat("ab,", 30), strings.Repeat("\x2c\x01", 20)} {
		got := splitLine(nil, []byte(line), ',')
		want := strings.Split(line, ",")
		if len(got) != len(want) {
			t.Fatalf("%q: %d fields, want %d", line, len(got), len(want))
		}
		for i := range got {
			if string(got[i].b) != want[i] {
				t.Fatalf("%q: field %d = %q, want %q", line, i, got[i].b, want[i])
			}
		}
	}
}

// TestScannerMatchesEncodingCSV compares the record scanner with
// encoding/csv on random well-formed CSV (quotes, escaped quotes, embedded
// newlines and delimiters), read whole and through 1- to 7-byte reads.
func TestScannerMatchesEncodingCSV(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	pieces := []string{"a", "bc", "12", "x y", ",", ";", "\"", "\n", "é", " ", "longer text here"}
	for iter := 0; iter < 200; iter++ {
		var b strings.Builder
		nrec := 1 + r.IntN(30)
		nf := 1 + r.IntN(6)
		for i := 0; i < nrec; i++ {
			for j := 0; j < nf; j++ {
				if j > 0 {
					b.WriteByte(',')
				}
				var f strings.Builder
				for k := r.IntN(4); k > 0; k-- {
					f.WriteString(pieces[r.IntN(len(pieces))])
				}
				v := f.String()
				if strings.ContainsAny(v, ",\"\n") || (v == "" && nf == 1) || r.IntN(4) == 0 {
					v = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
				}
				b.WriteString(v)
			}
			if i < nrec-1 || r.IntN(2) == 0 {
				if r.IntN(3) == 0 {
					b.WriteString("\r\n")
				} else {
					b.WriteString("\n")
				}
			}
		}
		data := b.String()
		cr := csv.NewReader(strings.NewReader(data))
		cr.FieldsPerRecord = -1
		want, err := cr.ReadAll()
		if err != nil {
			t.Fatalf("encoding/csv: %v on %q", err, data)
		}
		for _, n := range []int{0, 1, 3, 7} {
			var rd io.Reader = strings.NewReader(data)
			if n > 0 {
				rd = &nByteReader{r: rd, n: n}
			}
			sc := newCSVScanner(rd, "t", ',', 1<<20)
			var row rowBuf
			var got [][]string
			for {
				err := sc.read(&row)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				rec := make([]string, len(row.cells))
				for i, c := range row.cells {
					rec[i] = string(c.b)
				}
				got = append(got, rec)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("reads of %d: scanner\n%q\nencoding/csv\n%q\ninput %q", n, got, want, data)
			}
		}
	}
}
