// Command s3run is the s3ingest side of the benchmark, one process per
// run: it ingests one local file into a FileSink dataset the way the
// worker ingests one S3 object (worker/ingest.go), without Redis or S3:
//
//	parsers.Open on the whole object (sniffing, inference on a sample,
//	typed batches) → sink.Reconcile against a dataset that does not exist
//	yet (the plan that creates it) → FileSink Begin, Write of every batch,
//	Commit
//
// so that any improvement inside parsers.Open or the FileSink shows in
// the benchmark. Any rejected row fails the run: a benchmark that drops
// rows compares different work.
//
//	s3run -in FILE -sink DIR [-dataset NAME] [-cpuprofile FILE]
//
// It prints {"rows":N,"seconds":S,"dataset_dir":DIR} on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

func main() {
	in := flag.String("in", "", "the input file (CSV, JSON, Parquet; compressed or not)")
	root := flag.String("sink", "", "the FileSink root directory")
	dataset := flag.String("dataset", "bench", "the dataset name")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	flag.Parse()
	if *in == "" || *root == "" {
		fmt.Fprintln(os.Stderr, "s3run: -in and -sink are required")
		os.Exit(2)
	}
	stop := func() {}
	if *cpuprofile != "" {
		var err error
		if stop, err = startProfile(*cpuprofile); err != nil {
			fmt.Fprintln(os.Stderr, "s3run:", err)
			os.Exit(1)
		}
	}
	start := time.Now()
	rows, dir, err := ingest(context.Background(), *in, *root, *dataset)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3run:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{ //nolint:errcheck // stdout
		"rows": rows, "seconds": time.Since(start).Seconds(), "dataset_dir": dir})
}

// startProfile starts a CPU profile into path; stop ends it.
func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "s3run: cpu profile:", err)
		}
	}, nil
}

// ingest reads path into dataset "bench/<name>" of a FileSink at root.
func ingest(ctx context.Context, path, root, name string) (rows int64, dir string, err error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return 0, "", err
	}
	snk, err := sink.OpenFile(abs, sink.FileOptions{}) // what sink.Open("file://...") gives ingestd
	if err != nil {
		return 0, "", err
	}
	defer snk.Close()
	obj, err := parsers.FileObject(path)
	if err != nil {
		return 0, "", err
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, "", err
	}
	ds := sink.Dataset{Workspace: "bench", Name: name}
	ref := sink.ObjectRef{Bucket: "local", Key: filepath.Base(path), Size: st.Size(), LastModified: st.ModTime().UTC(),
		ETag: strconv.FormatInt(st.Size(), 16) + "-" + strconv.FormatInt(st.ModTime().UnixNano(), 16)}

	var opts parsers.Options
	opts.OnReject = func(pe *parsers.ParseError) error {
		return fmt.Errorf("row rejected (the benchmark's data must load whole): %w", pe)
	}
	rd, err := parsers.Open(ctx, obj, opts)
	if err != nil {
		return 0, "", err
	}
	defer func() { rd.Close() }()
	rec, err := sink.Reconcile(sink.ReconcileInput{Name: ds, Object: ref, Inferred: rd.Schema(), Now: time.Now().UTC(),
		Capabilities: sink.Capabilities{}})
	if err != nil {
		return 0, "", err
	}
	if !sameSchema(rd.Schema(), rec.Read) {
		// The worker reads again with the plan's schema here (a sample that
		// covered the whole object inferred a column non-nullable).
		info := rd.Info()
		rd.Close()
		opts.Format, opts.Compression, opts.Schema = info.Format, info.Compression, rec.Read
		if info.Format == parsers.FormatCSV {
			opts.CSV.Header = parsers.HeaderAbsent
			if info.Header {
				opts.CSV.Header = parsers.HeaderPresent
			}
		}
		if rd, err = parsers.Open(ctx, obj, opts); err != nil {
			return 0, "", err
		}
	}
	if !sameSchema(rd.Schema(), sink.ColumnsSchema(rec.Plan.Columns)) {
		return 0, "", fmt.Errorf("the plan's columns %v are not the reader's %v (the worker's assembler would map them; this runner does not)",
			rec.Plan.Columns, rd.Schema().Fields)
	}
	w, err := snk.Begin(ctx, ds, ref, rec.Plan)
	if err != nil {
		return 0, "", err
	}
	defer func() {
		if err != nil {
			w.Abort(context.WithoutCancel(ctx)) //nolint:errcheck // the error is err
		}
	}()
	b := schema.NewBatch(rd.Schema(), parsers.DefaultBatchRows)
	for {
		nerr := rd.Next(ctx, b)
		if b.Len() > 0 {
			if err := w.Write(ctx, b); err != nil {
				return 0, "", err
			}
			rows += int64(b.Len())
		}
		if errors.Is(nerr, io.EOF) {
			break
		}
		if nerr != nil {
			return 0, "", nerr
		}
	}
	if err := w.Commit(ctx, sink.Stats{Rows: rows, Bytes: st.Size()}); err != nil {
		return 0, "", err
	}
	if sink.Discarded(w) {
		return 0, "", fmt.Errorf("commit discarded: dataset %s already holds %s (use an empty -sink)", ds, ref)
	}
	dir, err = snk.DatasetDir(ds)
	return rows, dir, err
}

// sameSchema reports whether a and b have the same names, types and
// nullability in the same order.
func sameSchema(a, b *schema.Schema) bool {
	if len(a.Fields) != len(b.Fields) {
		return false
	}
	for i, f := range a.Fields {
		g := b.Fields[i]
		if f.Name != g.Name || f.Type != g.Type || f.Nullable != g.Nullable {
			return false
		}
	}
	return true
}
