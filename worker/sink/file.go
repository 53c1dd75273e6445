package sink

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/s3ingest/s3ingest/internal/buildinfo"
	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink/internal/pqwrite"
)

// Parquet key/value metadata keys written into every dataset file.
const (
	// MetaLedger holds the file's LedgerEntry as JSON.
	MetaLedger = "s3ingest.ledger"
	// MetaSchema holds the schema.Schema (with inference reasons) as JSON.
	MetaSchema = "s3ingest.schema"
)

// Layout of a FileSink root.
const (
	tmpDir     = ".tmp"
	rejectsDir = "_rejects"
)

// Defaults for FileOptions.
const (
	DefaultRowGroupRows  = 1 << 20
	DefaultRowGroupBytes = 64 << 20
	DefaultStaleTempAge  = 24 * time.Hour
)

// FileOptions configure a FileSink. The zero value uses the defaults.
type FileOptions struct {
	// RowGroupRows and RowGroupBytes bound a row group (defaults
	// DefaultRowGroupRows, DefaultRowGroupBytes of uncompressed values).
	// Encoded pages of the open row group are held in memory up to 4 MiB
	// per Writer and spilled to a temporary file past it (see
	// WriterMemoryBudget).
	RowGroupRows  int64
	RowGroupBytes int64
	// Compression is the Parquet codec of datasets whose settings name
	// none (default CodecSnappy's: Snappy by s2's default mode).
	Compression compress.Codec
	// StaleTempAge is how old an orphaned temporary file (left by a
	// crashed writer) must be before Begin removes it (default 24h).
	StaleTempAge time.Duration
	// Parallelism is how many columns one Writer converts, encodes and
	// compresses at once (default GOMAXPROCS; 1 writes them one after the
	// other on the caller's goroutine). See file_columns.go.
	Parallelism int
}

// LedgerEntry is what a sink records about a committed object version.
type LedgerEntry struct {
	Workspace   string    `json:"workspace"`
	Dataset     string    `json:"dataset"`
	Object      ObjectRef `json:"object"`
	Rows        int64     `json:"rows"`
	Rejected    int64     `json:"rejected"`
	Bytes       int64     `json:"bytes"`
	CommittedAt time.Time `json:"committed_at"`
}

// FileSink stores each dataset as a directory of Parquet files under a root,
// one directory per workspace:
//
//	<root>/<workspace>/<dataset>/_dataset.json                  the manifest: record, history, ledger
//	<root>/<workspace>/<dataset>/part-<hash>.parquet            one per committed object version
//	<root>/<workspace>/<dataset>/_rejects/part-<hash>.ndjson    its rejected rows, if any
//	<root>/<workspace>/<dataset>/.lock                          the dataset's lock (flock)
//	<root>/<workspace>/<dataset>/.tmp/                          files being written
//
// <workspace> is the workspace ID made into one safe path component (see
// WorkspaceDirName): letters, digits, '_' and '@' are kept, and so are '.'
// and '-' except as the first character; every other character (':', and a
// leading '.' or '-') is written as '%' and two uppercase hex digits. So
// "acme" stays "acme", "acme:prod" becomes "acme%3Aprod", and ".." becomes
// "%2E." (never "." or ".."). Workspace IDs never contain '%', so the
// mapping is one-to-one and reversible. Workspace IDs are case-sensitive:
// the root must be on a case-sensitive file system (as Linux's are), or
// workspaces whose IDs differ only in case would share a directory.
//
// The manifest (see Manifest) is the dataset's record (columns with one
// type each, settings, schema history) and its ledger (the committed
// parts): Lookup and the Catalog methods read it, and a part it does not
// list is never read. <hash> is derived from the ledger identity
// (workspace, dataset, bucket, key, version ID or ETag, size). Each part
// also carries its LedgerEntry and schema in Parquet key/value metadata
// (MetaLedger, MetaSchema), from which a manifest can be rebuilt: a
// directory written by an earlier version, without a manifest, gets one
// built from its parts when the sink first opens it.
//
// Commit holds the dataset's lock (flock on .lock: released by the kernel
// if the process dies) while it re-reads the manifest, merges the plan's
// columns into it (a column it already has with another type is a
// *SchemaConflictError: a Parquet directory never holds two types under
// one column name), publishes the data file and the rejects file with
// link (which fails if the name exists, so a file is never overwritten in
// place), and replaces the manifest (temporary file, fsync, rename, fsync
// of the directory): the commit point. If the manifest already lists the
// object version (a concurrent retry won), the Writer's files are
// discarded. A crash before the manifest update leaves files that no
// manifest lists: garbage, never read, swept later.
//
// A Writer's memory is bounded by WriterMemoryBudget whatever the width
// of the file (up to 10,000 columns), on top of the batches it is given.
//
// Every part is written with the dataset's columns as the plan of its
// commit gave them; parts committed before a column was added lack it,
// and readers (ReadDataset, DuckDB, Spark) union the parts by column name,
// reading nulls there.
type FileSink struct {
	root  string
	opt   FileOptions
	swept sync.Map // dataset directory -> struct{}: unlisted parts swept

	manifests manifestCache
}

// OpenFile opens (creating if needed) a FileSink rooted at dir.
func OpenFile(dir string, opt FileOptions) (*FileSink, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("file sink: root %q is not an absolute path", dir)
	}
	if opt.RowGroupRows <= 0 {
		opt.RowGroupRows = DefaultRowGroupRows
	}
	if opt.RowGroupBytes <= 0 {
		opt.RowGroupBytes = DefaultRowGroupBytes
	}
	if opt.Compression == nil {
		opt.Compression = CodecSnappy.ParquetCodec()
	}
	if opt.StaleTempAge <= 0 {
		opt.StaleTempAge = DefaultStaleTempAge
	}
	if opt.Parallelism <= 0 {
		opt.Parallelism = runtime.GOMAXPROCS(0)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file sink: create root: %w", err)
	}
	return &FileSink{root: filepath.Clean(dir), opt: opt}, nil
}

// Root returns the sink's root directory.
func (s *FileSink) Root() string { return s.root }

// WorkspaceDirName returns the directory name of a workspace's datasets
// under a FileSink root (see FileSink for the encoding). ws must be a valid
// workspace ID (ValidateWorkspace).
func WorkspaceDirName(ws string) string {
	var b strings.Builder
	b.Grow(len(ws) + 4)
	for i := 0; i < len(ws); i++ {
		c := ws[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '@',
			(c == '.' || c == '-') && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// DatasetDir returns the directory of a dataset,
// <root>/<workspace>/<dataset> (it may not exist yet).
func (s *FileSink) DatasetDir(ds Dataset) (string, error) {
	if err := ds.Validate(); err != nil {
		return "", err
	}
	return filepath.Join(s.root, WorkspaceDirName(ds.Workspace), ds.Name), nil
}

// PartPath returns the path of the data file of obj in ds.
func (s *FileSink) PartPath(ds Dataset, obj ObjectRef) (string, error) {
	dir, err := s.DatasetDir(ds)
	if err != nil {
		return "", err
	}
	if err := obj.validate(); err != nil {
		return "", err
	}
	return filepath.Join(dir, "part-"+ledgerHash(ds, obj)+".parquet"), nil
}

// Seen reports whether ds's manifest lists obj's version (Lookup's
// Loaded).
func (s *FileSink) Seen(ctx context.Context, ds Dataset, obj ObjectRef) (bool, error) {
	l, err := s.Lookup(ctx, ds, obj)
	return l.Loaded, err
}

// Close closes the manifests kept open by the sink's cache.
func (s *FileSink) Close() error {
	s.manifests.clear()
	return nil
}

// Begin creates a temporary Parquet file for obj in
// <workspace>/<dataset>/.tmp with the plan's columns. A plan column that the
// dataset already has with another type fails early with a
// *SchemaConflictError (Commit checks again under the dataset's lock).
func (s *FileSink) Begin(ctx context.Context, ds Dataset, obj ObjectRef, plan Plan) (Writer, error) {
	sch := ColumnsSchema(plan.Columns)
	final, err := s.PartPath(ds, obj)
	if err != nil {
		return nil, err
	}
	if err := validateSchema(sch); err != nil {
		return nil, err
	}
	if err := plan.Settings.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, _, err := s.current(ctx, ds)
	if err != nil {
		return nil, err
	}
	if err := m.conflict(ds, plan.Columns); err != nil {
		return nil, err
	}
	plan.Columns = slices.Clone(plan.Columns)
	dir := filepath.Dir(final)
	tmp := filepath.Join(dir, tmpDir)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("file sink: create dataset %s: %w", ds, err)
	}
	// Every Begin sweeps: the files of a writer that died (a killed
	// process whose task is now retried) go at once.
	s.sweepTemp(tmp)
	hash := ledgerHash(ds, obj)
	base := filepath.Join(tmp, "part-"+hash+"-"+randomSuffix()+"."+selfOwner())
	f, err := os.OpenFile(base+".parquet", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("file sink: create temporary file: %w", err)
	}
	schemaJSON, err := json.Marshal(sch)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("file sink: encode schema: %w", err)
	}
	fields := append([]schema.Field(nil), sch.Fields...)
	codec := plan.Settings.Compression.ParquetCodec()
	if codec == nil {
		codec = s.opt.Compression
	}
	w := &fileWriter{
		sink:     s,
		ds:       ds,
		obj:      obj,
		plan:     plan,
		fields:   fields,
		dir:      dir,
		final:    final,
		rejects:  filepath.Join(dir, rejectsDir, "part-"+hash+".ndjson"),
		tmpBase:  base,
		f:        f,
		parallel: min(s.opt.Parallelism, max(len(fields), 1)),
	}
	w.flushPages = len(fields) > wideColumns
	w.order = costOrder(fields)
	opt := pqwrite.Options{
		Codec:     codec,
		PageBytes: pageBufferSize(len(fields)),
		CreatedBy: "s3ingest version " + buildinfo.Read().Version,
		KeyValue:  [][2]string{{MetaSchema, string(schemaJSON)}},
	}
	if w.flushPages {
		// Only wide files spill encoded pages to disk: a narrow file's
		// pages fit its row-group budget in memory, and stay there (no
		// extra write and read of every row group).
		w.spill = newPageSpill(tmp, pageMemoryLimit)
		opt.Buffers = w.spill
	}
	w.pw, err = pqwrite.NewWriter(&writebackFile{f: f}, fields, opt)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("file sink: %w", err)
	}
	return w, nil
}

func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fileWriter writes one object version into a temporary Parquet file.
type fileWriter struct {
	sink    *FileSink
	ds      Dataset
	obj     ObjectRef
	plan    Plan
	fields  []schema.Field
	dir     string // dataset directory
	final   string // data file path
	rejects string // published rejects path
	tmpBase string // temp path without extension

	f     *os.File
	pw    *pqwrite.Writer
	spill *pageSpill // pw's page buffers
	// flushPages: each Write ends the page of every column (wide files).
	flushPages bool

	rf       *os.File // temp rejects file, created on the first Reject
	rbuf     *bufio.Writer
	nRejects int64

	rows       int64 // rows written
	groupRows  int64 // rows in the open row group
	groupBytes int64 // approximate uncompressed bytes in the open row group

	// parallel bounds the goroutines writing columns (forColumns), which
	// take them in order (costOrder).
	parallel int
	order    []int

	err       error // sticky: a failed write leaves the file unusable
	done      bool  // committed or aborted
	discarded bool  // committed meanwhile by another writer: nothing published
}

// Discarded reports whether Commit found the object version committed
// meanwhile and published nothing (see Discarded).
func (w *fileWriter) Discarded() bool { return w.discarded }

func (w *fileWriter) Write(ctx context.Context, b *schema.Batch) error {
	if w.done {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkBatch(b, w.fields, parquetRules); err != nil {
		return err
	}
	n := b.Len()
	if n == 0 {
		return nil
	}
	if err := w.writeColumns(b); err != nil {
		w.err = err
		return w.err
	}
	for c := range b.Cols {
		w.groupBytes += vectorBytes(&b.Cols[c])
	}
	w.rows += int64(n)
	w.groupRows += int64(n)
	if w.groupRows >= w.sink.opt.RowGroupRows || w.groupBytes >= w.sink.opt.RowGroupBytes {
		if err := w.flushColumns(); err != nil {
			w.err = err
			return w.err
		}
		if err := w.pw.EndRowGroup(); err != nil {
			w.err = fmt.Errorf("file sink: write row group: %w", err)
			return w.err
		}
		w.groupRows, w.groupBytes = 0, 0
	}
	return nil
}

// vectorBytes approximates the uncompressed size of a vector's values.
func vectorBytes(v *schema.Vector) int64 {
	n := int64(v.Len())
	switch v.Type {
	case schema.Bool:
		return n
	case schema.Int64, schema.Date, schema.Timestamp, schema.Float64:
		return 8 * n
	default:
		if n == 0 {
			return 0
		}
		return int64(v.Offsets[n]-v.Offsets[0]) + 4*n
	}
}

func (w *fileWriter) Reject(ctx context.Context, r Reject) error {
	if w.done {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if w.rf == nil {
		f, err := os.OpenFile(w.tmpBase+".ndjson", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			w.err = fmt.Errorf("file sink: create temporary rejects file: %w", err)
			return w.err
		}
		w.rf, w.rbuf = f, bufio.NewWriterSize(f, 64<<10)
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("file sink: encode reject: %w", err)
	}
	line = append(line, '\n')
	if _, err := w.rbuf.Write(line); err != nil {
		w.err = fmt.Errorf("file sink: write reject: %w", err)
		return w.err
	}
	w.nRejects++
	return nil
}

func (w *fileWriter) Commit(ctx context.Context, st Stats) error {
	if w.done {
		return ErrClosed
	}
	if w.err != nil {
		w.abort()
		return w.err
	}
	if err := ctx.Err(); err != nil {
		w.abort()
		return err
	}
	err := w.commit(ctx, st)
	if err != nil {
		w.abort()
		return err
	}
	w.done = true
	return nil
}

// commit finishes the temporary files, then, under the dataset's lock,
// publishes them and the manifest that lists them (see FileSink).
func (w *fileWriter) commit(ctx context.Context, st Stats) error {
	now := time.Now().UTC()
	part := ManifestPart{
		File:        filepath.Base(w.final),
		Object:      w.obj,
		Rows:        w.rows,
		Rejected:    max(st.Rejected, w.nRejects),
		Bytes:       st.Bytes,
		CommittedAt: now,
	}
	if w.nRejects > 0 {
		part.RejectsFile = filepath.Join(rejectsDir, filepath.Base(w.rejects))
	}
	ej, err := json.Marshal(part.entry(w.ds))
	if err != nil {
		return fmt.Errorf("file sink: encode ledger entry: %w", err)
	}
	w.pw.SetKeyValue(MetaLedger, string(ej))
	if err := w.flushColumns(); err != nil {
		return err // abort closes the spill
	}
	err = w.pw.Close()
	if w.spill != nil {
		w.spill.close()
	}
	if err != nil {
		return fmt.Errorf("file sink: finish parquet file: %w", err)
	}
	if err := syncClose(w.f); err != nil {
		return fmt.Errorf("file sink: write %s: %w", w.f.Name(), err)
	}
	w.f = nil
	if w.rf != nil {
		if err := w.rbuf.Flush(); err != nil {
			return fmt.Errorf("file sink: write rejects: %w", err)
		}
		if err := syncClose(w.rf); err != nil {
			return fmt.Errorf("file sink: write rejects: %w", err)
		}
		w.rf = nil
	}
	defer w.removeTemps()

	ld, err := w.sink.lockDataset(ctx, w.ds, w.dir)
	if err != nil {
		return err
	}
	defer ld.unlock()
	if ld.m == nil {
		// A new dataset: an empty manifest first, so that the files below
		// are garbage, not parts of a directory without a manifest (which
		// would be read as written by an earlier version), if this commit
		// dies before its manifest update.
		if err := ld.save(&Manifest{}); err != nil {
			return fmt.Errorf("file sink: create dataset %s: %w", w.ds, err)
		}
	}
	m := ld.m
	if m.part(part.File) != nil {
		w.discarded = true
		return nil // committed meanwhile by a concurrent retry: keep that one
	}
	if m.superseded(w.obj, w.plan) {
		w.discarded = true
		return nil // a newer version of the key is committed: keep that one
	}
	next := m.clone()
	removed, err := next.apply(w.ds, w.obj, w.plan, part)
	if err != nil {
		return err
	}
	// The files: no manifest lists these names (the object version is not
	// listed), so an existing one is garbage of a crashed commit.
	if err := publish(w.tmpBase+".parquet", w.final); err != nil {
		return fmt.Errorf("file sink: publish %s: %w", part.File, err)
	}
	if w.nRejects > 0 {
		if err := os.MkdirAll(filepath.Dir(w.rejects), 0o755); err != nil {
			return fmt.Errorf("file sink: create rejects directory: %w", err)
		}
		if err := publish(w.tmpBase+".ndjson", w.rejects); err != nil {
			return fmt.Errorf("file sink: publish rejects: %w", err)
		}
		if err := syncDir(filepath.Dir(w.rejects)); err != nil {
			return fmt.Errorf("file sink: publish rejects: %w", err)
		}
	}
	if err := syncDir(w.dir); err != nil {
		return fmt.Errorf("file sink: publish %s: %w", part.File, err)
	}
	// The manifest: the commit point.
	if err := ld.save(next); err != nil {
		return fmt.Errorf("file sink: commit %s to %s: %w", w.obj, w.ds, err)
	}
	// Replaced parts left the manifest; their files are garbage now.
	for _, p := range removed {
		_ = os.Remove(filepath.Join(w.dir, p.File))
		if p.RejectsFile != "" {
			_ = os.Remove(filepath.Join(w.dir, p.RejectsFile))
		}
	}
	return nil
}

// publish links the finished temporary file tmp to its published name,
// replacing a file of that name left by a crashed commit (the caller holds
// the dataset's lock and no manifest lists the name).
func publish(tmp, name string) error {
	err := os.Link(tmp, name)
	if errors.Is(err, fs.ErrExist) {
		if err := os.Remove(name); err != nil {
			return err
		}
		err = os.Link(tmp, name)
	}
	return err
}

func (w *fileWriter) Abort(ctx context.Context) error {
	if w.done {
		return nil
	}
	w.abort()
	return nil
}

// abort closes and removes the temporary files and marks the writer done.
func (w *fileWriter) abort() {
	w.done = true
	if w.pw != nil {
		w.pw.Abort() // waits for a row group being written
	}
	if w.spill != nil {
		w.spill.close()
	}
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if w.rf != nil {
		w.rf.Close()
		w.rf = nil
	}
	w.removeTemps()
}

func (w *fileWriter) removeTemps() {
	_ = os.Remove(w.tmpBase + ".parquet")
	_ = os.Remove(w.tmpBase + ".ndjson")
}

func syncClose(f *os.File) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriterMemoryBudget bounds the heap one FileSink Writer adds, garbage
// not yet collected included, for files of up to 10,000 columns (the
// parsers' default MaxColumns), on top of the batches handed to it: it
// adds to parsers.ObjectMemoryBudget for an object loaded into a FileSink.
// Measured by TestMemoryFlatWideObject (10,000 nullable string columns,
// 2,000 rows): 124 MiB peak (186-230 MiB with parquet-go's ColumnWriter,
// which kept 8 KiB of level buffers per column). Its parts (pqwrite):
//
//   - per column, its state (a few hundred bytes) and the page index of
//     each of its chunks until Commit writes the footer;
//   - each column's open page, up to pageBufferSize of values (256 KiB up
//     to 128 columns, columnBuffersBudget shared by wider files); a page's
//     memory comes from a pool when it starts and goes back when it is
//     written, and wide files end every column's page at each Write, so
//     they hold only the pages being written;
//   - the open row group's encoded pages: a narrow file's in memory (the
//     row group bounds them: FileOptions.RowGroupBytes of values, 64 MiB),
//     plus the previous row group's while it is written in the background;
//     a wide file's up to pageMemoryLimit (4 MiB), the rest in the
//     writer's unlinked spill file in the dataset's .tmp, written at once;
//   - per column goroutine (FileOptions.Parallelism, GOMAXPROCS by
//     default): one page's encoding and compression buffers (about twice
//     the page size).
//
// A narrow file stays below it: two row groups of encoded pages at most
// (2 × 64 MiB when nothing compresses; 2 × ~28 MiB for the benchmark's 12
// mixed columns with Snappy).
const WriterMemoryBudget = 256 << 20

// Parts of WriterMemoryBudget (see FileSink).
const (
	// pageMemoryLimit bounds a Writer's encoded pages kept in memory;
	// more go to its spill file (see pageSpill).
	pageMemoryLimit = 4 << 20
	// columnBuffersBudget is shared by the column buffers: each column's
	// unencoded values are encoded into a page at pageBufferSize.
	columnBuffersBudget = 32 << 20
	minPageBufferSize   = 4 << 10
	// wideColumns: a file with more columns ends every column's page at
	// each Write.
	wideColumns = columnBuffersBudget / parquet.DefaultPageBufferSize
)

// pageBufferSize returns the page size of each column of a file with cols
// columns: parquet-go's default (256 KiB) up to 128 columns, less for
// wider files so that the column buffers share columnBuffersBudget, and at
// least minPageBufferSize.
func pageBufferSize(cols int) int {
	return min(parquet.DefaultPageBufferSize, max(minPageBufferSize, columnBuffersBudget/max(cols, 1)))
}
