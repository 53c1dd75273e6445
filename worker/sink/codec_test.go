package sink_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go/format"

	"github.com/s3ingest/s3ingest/worker/sink"
)

// fileCodecs returns the codec of every column chunk of a Parquet file.
func fileCodecs(t *testing.T, path string) map[format.CompressionCodec]int {
	t.Helper()
	pf := openParquetFile(t, path)
	out := map[format.CompressionCodec]int{}
	for _, rg := range pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			out[c.MetaData.Codec]++
		}
	}
	return out
}

// commitWithCodec commits testRows as object key into ds with the plan's
// codec c, and returns the data file's path.
func commitWithCodec(t *testing.T, fs *sink.FileSink, ds sink.Dataset, key string, c sink.Codec) string {
	t.Helper()
	ctx := ctxT(t)
	plan := sink.PlanFor(allTypes())
	plan.Settings.Compression = c
	w, err := fs.Begin(ctx, ds, obj(key), plan)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(ctx)
	if err := w.Write(ctx, fillBatch(allTypes(), testRows, 0)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, sink.Stats{}); err != nil {
		t.Fatal(err)
	}
	p, err := fs.PartPath(ds, obj(key))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFileSinkCodecs writes a file with each codec: every column chunk has
// it, the rows read back, and the dataset created by the commit records it.
func TestFileSinkCodecs(t *testing.T) {
	for _, tc := range []struct {
		codec sink.Codec
		want  format.CompressionCodec
	}{
		{sink.CodecDefault, format.Snappy},
		{sink.CodecSnappy, format.Snappy},
		{sink.CodecZstd, format.Zstd},
		{sink.CodecLZ4Raw, format.Lz4Raw},
		{sink.CodecGzip, format.Gzip},
		{sink.CodecNone, format.Uncompressed},
	} {
		t.Run(string(tc.codec), func(t *testing.T) {
			dir := t.TempDir()
			fs, err := sink.OpenFile(dir, sink.FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p := commitWithCodec(t, fs, dset("codec"), "a.csv", tc.codec)
			cols := len(allTypes().Fields)
			if got := fileCodecs(t, p); got[tc.want] != cols || len(got) != 1 {
				t.Errorf("column chunk codecs = %v, want all %d %v", got, cols, tc.want)
			}
			ds, err := sink.ReadDataset(filepath.Join(dir, testWS, "codec"))
			if err != nil {
				t.Fatal(err)
			}
			equalRows(t, ds.Rows, wantRows(fillBatch(allTypes(), testRows, 0)), true)
			rec, err := fs.Dataset(ctxT(t), dset("codec"))
			if err != nil {
				t.Fatal(err)
			}
			if rec.Settings.Compression != tc.codec {
				t.Errorf("dataset compression = %q, want %q", rec.Settings.Compression, tc.codec)
			}
		})
	}
}

// TestFileSinkCodecChangeAppliesToNewFiles: the codec is physical, not a
// contract: a later commit with another codec writes its file with it and
// the dataset records it; earlier files keep theirs and still read; a plan
// without a codec leaves the record alone.
func TestFileSinkCodecChangeAppliesToNewFiles(t *testing.T) {
	dir := t.TempDir()
	fs, err := sink.OpenFile(dir, sink.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	ds := dset("codec-change")
	record := func() sink.Codec {
		t.Helper()
		rec, err := fs.Dataset(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		return rec.Settings.Compression
	}
	p1 := commitWithCodec(t, fs, ds, "1.csv", sink.CodecZstd)
	p2 := commitWithCodec(t, fs, ds, "2.csv", sink.CodecLZ4Raw)
	if got := record(); got != sink.CodecLZ4Raw {
		t.Errorf("after a commit with lz4_raw the dataset records %q", got)
	}
	p3 := commitWithCodec(t, fs, ds, "3.csv", sink.CodecDefault)
	if got := record(); got != sink.CodecLZ4Raw {
		t.Errorf("a commit without a codec changed the record to %q", got)
	}
	for p, want := range map[string]format.CompressionCodec{p1: format.Zstd, p2: format.Lz4Raw, p3: format.Snappy} {
		if got := fileCodecs(t, p); got[want] == 0 || len(got) != 1 {
			t.Errorf("%s: codecs %v, want %v", filepath.Base(p), got, want)
		}
	}
	got, err := sink.ReadDataset(filepath.Join(dir, testWS, "codec-change"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 3*len(testRows) {
		t.Errorf("read %d rows, want %d", len(got.Rows), 3*len(testRows))
	}
}

// TestCodecValidation: an unknown codec fails Begin, naming the field.
func TestCodecValidation(t *testing.T) {
	fs, err := sink.OpenFile(t.TempDir(), sink.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plan := sink.PlanFor(allTypes())
	plan.Settings.Compression = "lzo"
	_, err = fs.Begin(ctxT(t), dset("bad-codec"), obj("a.csv"), plan)
	if err == nil || !strings.Contains(err.Error(), `compression "lzo": want snappy, zstd, lz4_raw, none or gzip`) || !errors.Is(err, sink.ErrInvalidSchema) {
		t.Fatalf("Begin with codec lzo = %v", err)
	}
	for _, c := range sink.Codecs {
		if err := c.Validate(); err != nil || c.ParquetCodec() == nil {
			t.Errorf("codec %q: %v, %v", c, err, c.ParquetCodec())
		}
	}
}

// TestSettingsForJob: the job's codec wins over the dataset's; the rest
// is the dataset's.
func TestSettingsForJob(t *testing.T) {
	d := sink.Settings{Evolution: sink.EvolutionRescue, Compression: sink.CodecZstd}
	got := d.ForJob(sink.Settings{Evolution: sink.EvolutionFail})
	if got.Evolution != sink.EvolutionRescue || got.Modified != sink.ModifiedReplace || got.Compression != sink.CodecZstd {
		t.Errorf("ForJob(no codec) = %+v", got)
	}
	if got := d.ForJob(sink.Settings{Compression: sink.CodecLZ4Raw}); got.Compression != sink.CodecLZ4Raw {
		t.Errorf("ForJob(lz4_raw) = %+v", got)
	}
	if diff := sink.SettingsDiff(d, sink.Settings{Compression: sink.CodecNone}); len(diff) != 0 {
		t.Errorf("SettingsDiff reports the codec: %v", diff)
	}
}

// TestFileSinkStatistics: column chunks carry min/max (strings, numbers,
// JSON) and null counts, and the column index has the pages' true bounds.
func TestFileSinkStatistics(t *testing.T) {
	fs, err := sink.OpenFile(t.TempDir(), sink.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := commitWithCodec(t, fs, dset("stats"), "a.csv", sink.CodecDefault)
	pf := openParquetFile(t, p)
	s := allTypes()
	b := fillBatch(s, testRows, 0)
	for i, c := range pf.Metadata().RowGroups[0].Columns {
		name, stats := s.Fields[i].Name, c.MetaData.Statistics
		switch s.Fields[i].Name {
		case "doc.nested":
			// parquet-go's SkipPageBounds would still write a column
			// index, claiming every page holds only "": a reader that
			// prunes pages by it would drop rows. JSON keeps its bounds.
			if stats.MinValue == nil || stats.MaxValue == nil {
				t.Errorf("JSON column %q has no min/max", name)
			}
			for pg, max := range pf.ColumnIndexes()[i].MaxValues {
				if !pf.ColumnIndexes()[i].NullPages[pg] && len(max) == 0 {
					t.Errorf("JSON column %q: page %d's column index says its max is \"\"", name, pg)
				}
			}
		case "Name With Space":
			if string(stats.MinValue) != "" || string(stats.MaxValue) != "plain" {
				t.Errorf("column %q: min/max %q/%q, want \"\"/plain", name, stats.MinValue, stats.MaxValue)
			}
		default:
			if stats.MinValue == nil || stats.MaxValue == nil {
				t.Errorf("column %q has no min/max", name)
			}
		}
		var nulls int64
		for _, null := range b.Cols[i].Nulls {
			if null {
				nulls++
			}
		}
		if stats.NullCount != nulls {
			t.Errorf("column %q: null count %d, want %d", name, stats.NullCount, nulls)
		}
	}
	if idx := pf.ColumnIndexes(); len(idx) == 0 || len(idx[1].MinValues) == 0 {
		t.Errorf("no column index with page bounds: %+v", idx)
	}
}
