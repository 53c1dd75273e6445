package verify

import (
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/bench/duckdb/internal/gen"
)

func TestCheck(t *testing.T) {
	truth := gen.Truth{Rows: 10, SumID: 45, SumUserID: 7, UserIDs: 9, Ratios: 8, Countries: 9, SumCount: 3, FlagsTrue: 4, SumComment: 5}
	cols := make([]Column, len(gen.Columns))
	for i, n := range gen.Columns {
		cols[i] = Column{Name: n, Type: "BIGINT"}
	}
	tests := []struct {
		name   string
		change func(*Stats)
		want   string // "" = no error
	}{
		{"same", func(*Stats) {}, ""},
		{"a row lost", func(s *Stats) { s.Rows--; s.SumID -= 9 }, "rows 9, want 10; sum(id) 36, want 45"},
		{"a null read as a value", func(s *Stats) { s.Ratios++ }, "count(ratio) 9, want 8"},
		{"an empty string read as null", func(s *Stats) { s.Countries-- }, "count(country) 8, want 9"},
		{"comment cut at the comma", func(s *Stats) { s.SumComment = 0 }, "sum(comment #N) 0, want 5"},
		{"an offset ignored", func(s *Stats) { s.SumEvent += 7200 }, "sum(seconds of event_ts) 7200, want 0"},
		{"a column missing", func(s *Stats) { s.Columns = s.Columns[1:] }, "11 columns, want 12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Stats{Truth: truth, Columns: append([]Column(nil), cols...)}
			tt.change(&s)
			err := Check("x", s, truth)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestTypeDiffs(t *testing.T) {
	a := []Column{{"id", "BIGINT"}, {"ts", "TIMESTAMP WITH TIME ZONE"}}
	b := []Column{{"id", "BIGINT"}, {"ts", "VARCHAR"}}
	got := TypeDiffs(a, b)
	if len(got) != 1 || got[0] != "ts TIMESTAMP WITH TIME ZONE vs ts VARCHAR" {
		t.Fatalf("TypeDiffs = %q", got)
	}
	if d := TypeDiffs(a, a); len(d) != 0 {
		t.Fatalf("TypeDiffs of equal columns = %q", d)
	}
}
