package demo

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/worker/sink"
)

// TestDemoRunsOnce checks the quick start's first command: the embedded demo
// runs its jobs, prints their results and writes the datasets. (The
// embedded servers serve only the demo; everything else is tested against
// real servers.)
func TestDemoRunsOnce(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := Run(ctx, Options{Dir: dir, Once: true, Out: &out}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"sampled s3://demo-bucket/sales/2024-01.csv",
		"order_id     int64",
		"dataset sales: 2 objects (0 skipped, 0 failed), 5998 rows",
		`line 2402, column "amount": value "N/A"`,
		"dataset events: 1 objects",
		"dataset metrics: 1 objects (0 skipped, 0 failed), 5000 rows",
		"dataset sales: 0 objects (2 skipped, 0 failed)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	for ds, rows := range map[string]int{"sales": 5998, "events": 2000, "metrics": 5000} {
		d, err := sink.ReadDataset(filepath.Join(dir, "demo", ds)) // <dir>/<workspace>/<dataset>
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Rows) != rows {
			t.Fatalf("dataset %s has %d rows, want %d", ds, len(d.Rows), rows)
		}
	}
}
