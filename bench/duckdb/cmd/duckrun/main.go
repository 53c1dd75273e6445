// Command duckrun is the DuckDB side of the benchmark, one process per run:
//
//	duckrun copy -format csv|csv.gz|ndjson|json|parquet -in FILE -out OUT.parquet -threads N
//	    COPY (SELECT * FROM read_csv/read_json/read_parquet(FILE)) TO OUT (FORMAT parquet, COMPRESSION snappy)
//	duckrun stats -in 'GLOB'      statistics of Parquet output(s), as JSON (see package verify)
//	duckrun toparquet -in CSV -out OUT.parquet   the Parquet input of the Parquet workload
//	duckrun version
//
// It prints one JSON object on stdout. DuckDB runs in memory with its
// defaults (memory_limit, preserve_insertion_order) except threads.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/s3ingest/s3ingest/bench/duckdb/internal/verify"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "duckrun:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("want a command: copy, stats, toparquet or version")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	in := fs.String("in", "", "input file (stats: a glob)")
	out := fs.String("out", "", "output Parquet file")
	format := fs.String("format", "", "csv, csv.gz, ndjson, json or parquet")
	threads := fs.Int("threads", 0, "DuckDB threads (0: DuckDB's default, one per core)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx := context.Background()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if *threads > 0 {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET threads=%d", *threads)); err != nil {
			return err
		}
	}
	var res any
	switch args[0] {
	case "copy":
		rel, err := reader(*format, *in)
		if err != nil {
			return err
		}
		res, err = copyTo(ctx, conn, rel, *out)
		if err != nil {
			return err
		}
	case "toparquet":
		res, err = copyTo(ctx, conn, "read_csv("+quote(*in)+")", *out)
		if err != nil {
			return err
		}
	case "stats":
		res, err = stats(ctx, conn, "read_parquet("+quote(*in)+")")
		if err != nil {
			return err
		}
	case "version":
		var v string
		if err := conn.QueryRowContext(ctx, "SELECT version()").Scan(&v); err != nil {
			return err
		}
		res = map[string]string{"version": v}
	default:
		return fmt.Errorf("unknown command %q: want copy, stats, toparquet or version", args[0])
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// reader returns the table function reading path in format.
func reader(format, path string) (string, error) {
	switch format {
	case "csv", "csv.gz":
		return "read_csv(" + quote(path) + ")", nil
	case "ndjson":
		return "read_json(" + quote(path) + ", format='newline_delimited')", nil
	case "json":
		return "read_json(" + quote(path) + ", format='array')", nil
	case "parquet":
		return "read_parquet(" + quote(path) + ")", nil
	}
	return "", fmt.Errorf("-format %q: want csv, csv.gz, ndjson, json or parquet", format)
}

func copyTo(ctx context.Context, conn *sql.Conn, rel, out string) (any, error) {
	start := time.Now()
	r, err := conn.ExecContext(ctx, "COPY (SELECT * FROM "+rel+") TO "+quote(out)+" (FORMAT parquet, COMPRESSION snappy)")
	if err != nil {
		return nil, err
	}
	n, err := r.RowsAffected()
	if err != nil {
		return nil, err
	}
	return map[string]any{"rows": n, "seconds": time.Since(start).Seconds()}, nil
}

func stats(ctx context.Context, conn *sql.Conn, rel string) (*verify.Stats, error) {
	var s verify.Stats
	t := &s.Truth
	err := conn.QueryRowContext(ctx, verify.Query(rel)).Scan(&t.Rows, &t.SumID, &t.SumUserID, &t.UserIDs,
		&t.Ratios, &t.Countries, &t.SumCount, &t.FlagsTrue, &t.SumComment, &t.SumCreatedDay, &t.SumUpdated,
		&t.SumEvent, &t.SumEventMicro)
	if err != nil {
		return nil, err
	}
	rows, err := conn.QueryContext(ctx, "DESCRIBE SELECT * FROM "+rel)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		s.Columns = append(s.Columns, verify.Column{Name: fmt.Sprint(vals[0]), Type: fmt.Sprint(vals[1])})
	}
	return &s, rows.Err()
}

// quote returns s as a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
