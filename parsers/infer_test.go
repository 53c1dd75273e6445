package parsers

import (
	"context"
	"strings"
	"testing"
)

// TestInference checks the type, nullability and reason of single-column
// CSVs (header "v").
func TestInference(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   string // schema.String form
		reason string // substring of the reason
	}{
		{"ints", []string{"1", "-2", "+3"}, "v int64", "int64: 3 of 3 sampled values are integers"},
		{"floats", []string{"1", "2.5", "1e3"}, "v float64", `float64: 3 of 3 sampled values are numbers, 2 with a fraction`},
		{"bools", []string{"true", "FALSE", "True"}, "v bool", "bool: 3 of 3"},
		{"bool-int", []string{"true", "5"}, "v int64", "integers or true/false"},
		{"dates", []string{"2024-01-01", "2024-12-31"}, "v date", "date: 2 of 2"},
		{"timestamps", []string{"2024-01-01", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05.1+02:00"}, "v timestamp", "timestamps or dates"},
		{"na-string", []string{"1", "2", "N/A", "4"}, "v string", `string: value "N/A" on line 4 is not a number (3 other sampled values are numbers)`},
		{"leading-zero", []string{"007", "012"}, "v string", `string: value "007" on line 2 has a leading zero`},
		{"nulls", []string{"1", "", "NULL", `\N`, "null"}, "v int64?", "nullable: 3 of 4 sampled values are null"}, // a blank line is skipped,
		{"all-null", []string{"NULL", "null"}, "v string?", "no non-null value among 2"},
		{"mixed-date-num", []string{"2024-01-01", "5"}, "v string", "is not"},
		{"text", []string{"alice", "bob"}, "v string", `string: 2 of 2 sampled values are text (first "alice" on line 2)`},
		{"quoted-empty-string", []string{"a", `""`}, "v string", "text"},
		{"quoted-empty-int", []string{"1", `""`}, "v int64?", "nullable"},
		{"spaces", []string{" 1", "2 "}, "v int64", "integers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := "v\n" + strings.Join(tc.values, "\n") + "\n"
			r, err := Open(context.Background(), BytesObject("t.csv", []byte(data)), Options{CSV: CSVOptions{Header: HeaderPresent}})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := r.Schema().String(); got != tc.want {
				t.Errorf("schema %q, want %q (%s)", got, tc.want, r.Schema().Fields[0].Reason)
			}
			if reason := r.Schema().Fields[0].Reason; !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", reason, tc.reason)
			}
		})
	}
}

func TestInferenceSampleBound(t *testing.T) {
	// the bad value comes after the sample: the column stays int64 and
	// nullable (the sample did not reach the end), and the row is rejected.
	var b strings.Builder
	b.WriteString("v\n")
	for i := 0; i < 50; i++ {
		b.WriteString("1\n")
	}
	b.WriteString("x\n")
	var rejects []*ParseError
	opts := Options{SampleRows: 10, OnReject: func(pe *ParseError) error { rejects = append(rejects, pe); return nil }}
	r, err := Open(context.Background(), BytesObject("t.csv", []byte(b.String())), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Schema().String(); got != "v int64?" {
		t.Fatalf("schema %s", got)
	}
	if n := readAll(t, BytesObject("t.csv", []byte(b.String())), opts); n != 50 {
		t.Fatalf("%d rows", n)
	}
	if len(rejects) != 1 || rejects[0].Line != 52 || rejects[0].Column != "v" || !strings.Contains(rejects[0].Hint, "sample_rows") {
		t.Fatalf("rejects %v", rejects)
	}
	// bounded by bytes too
	r, err = Open(context.Background(), BytesObject("t.csv", []byte(b.String())), Options{SampleBytes: 20})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Schema().String(); got != "v int64?" {
		t.Fatalf("schema %s", got)
	}
}
