// Package verify holds what the benchmark checks in every output: the
// statistics DuckDB computes over a Parquet output (cmd/duckrun stats) and
// their comparison with the generator's truth, so that a sample in which
// the two programs did different work is an error, not a number.
package verify

import (
	"fmt"
	"strings"

	"github.com/s3ingest/s3ingest/bench/duckdb/internal/gen"
)

// Column is one output column as DuckDB reads it back.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Stats are an output's statistics, computed by DuckDB reading it back.
type Stats struct {
	gen.Truth
	Columns []Column `json:"columns"`
}

// Query is the SQL computing Stats' counts over rel (a table function
// call such as read_parquet('...')), in the order of Truth's fields.
func Query(rel string) string {
	return `SELECT count(*), coalesce(sum(id),0)::BIGINT, coalesce(sum(user_id),0)::BIGINT, count(user_id),
	count(ratio), count(country), coalesce(sum("count"),0)::BIGINT, count(*) FILTER (WHERE flag),
	coalesce(sum(CAST(split_part(comment, '#', 2) AS BIGINT)),0)::BIGINT,
	coalesce(sum(dayofmonth(created)),0)::BIGINT, coalesce(sum(epoch_us(updated) // 1000000),0)::BIGINT,
	coalesce(sum(epoch_us(event_ts) // 1000000),0)::BIGINT, coalesce(sum(epoch_us(event_ts) % 1000000),0)::BIGINT FROM ` + rel
}

// Check compares got with the truth; the error names the implementation
// and every difference.
func Check(impl string, got Stats, want gen.Truth) error {
	var diffs []string
	add := func(name string, g, w int64) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s %d, want %d", name, g, w))
		}
	}
	t := got.Truth
	add("rows", t.Rows, want.Rows)
	add("sum(id)", t.SumID, want.SumID)
	add("sum(user_id)", t.SumUserID, want.SumUserID)
	add("count(user_id)", t.UserIDs, want.UserIDs)
	add("count(ratio)", t.Ratios, want.Ratios)
	add("count(country)", t.Countries, want.Countries)
	add("sum(count)", t.SumCount, want.SumCount)
	add("count(flag)", t.FlagsTrue, want.FlagsTrue)
	add("sum(comment #N)", t.SumComment, want.SumComment)
	add("sum(day of created)", t.SumCreatedDay, want.SumCreatedDay)
	add("sum(seconds of updated)", t.SumUpdated, want.SumUpdated)
	add("sum(seconds of event_ts)", t.SumEvent, want.SumEvent)
	add("sum(microseconds of event_ts)", t.SumEventMicro, want.SumEventMicro)
	if len(diffs) > 0 {
		return fmt.Errorf("%s output differs from the generated data: %s", impl, strings.Join(diffs, "; "))
	}
	if len(got.Columns) != len(gen.Columns) {
		return fmt.Errorf("%s output has %d columns, want %d: %v", impl, len(got.Columns), len(gen.Columns), got.Columns)
	}
	return nil
}

// TypeDiffs lists the columns whose types differ between two outputs
// (e.g. a timestamp one program keeps as text): such a comparison is not
// like for like, and the report says so.
func TypeDiffs(a, b []Column) []string {
	var out []string
	for i := range min(len(a), len(b)) {
		if a[i].Name != b[i].Name || a[i].Type != b[i].Type {
			out = append(out, fmt.Sprintf("%s %s vs %s %s", a[i].Name, a[i].Type, b[i].Name, b[i].Type))
		}
	}
	return out
}
