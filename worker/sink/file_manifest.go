package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Files of a FileSink dataset directory besides its parts.
const (
	// ManifestFile is the dataset's record and ledger (see Manifest).
	ManifestFile = "_dataset.json"
	lockFile     = ".lock"
	// ManifestFormat is the format number written into manifests.
	ManifestFormat = 1
)

// Manifest is a FileSink dataset's record, its schema history and its
// ledger: <dataset dir>/_dataset.json. It is the commit point of the
// dataset: a part file that it does not list is never read (it is the
// leftover of a crashed commit or of a replacement, removed by a sweep).
// It is replaced atomically (temporary file, fsync, rename, fsync of the
// directory) by writers holding the dataset's lock (flock on
// <dataset dir>/.lock), each commit incrementing Revision.
type Manifest struct {
	// Format is ManifestFormat.
	Format int `json:"format"`
	// Revision counts the manifest's updates: the fencing token of the
	// dataset's writers (a writer replaces only the revision it read).
	Revision int64 `json:"revision"`
	// Dataset is the dataset's record. Version 0 (no columns, no parts):
	// the dataset's first commit is under way (its manifest is written
	// empty before its files, so that a crash leaves no directory of parts
	// without a manifest); the Catalog reports it as not found.
	Dataset DatasetInfo `json:"dataset"`
	// History holds one entry per schema version, oldest first.
	History []SchemaChange `json:"history"`
	// Parts are the committed object versions, in commit order.
	Parts []ManifestPart `json:"parts"`
}

// ManifestPart is one committed object version of a FileSink dataset: its
// data file and rejects file and ledger entry.
type ManifestPart struct {
	// File is the data file's name in the dataset directory.
	File string `json:"file"`
	// Object is the object version.
	Object ObjectRef `json:"object"`
	// Rows is the number of rows in File.
	Rows int64 `json:"rows"`
	// Rejected is the number of rejected rows of the object.
	Rejected int64 `json:"rejected"`
	// Bytes is the number of object bytes read.
	Bytes int64 `json:"bytes,omitempty"`
	// RejectsFile is the rejects file's path relative to the dataset
	// directory ("" when there were no rejects recorded).
	RejectsFile string `json:"rejects_file,omitempty"`
	// CommittedAt is the commit's time.
	CommittedAt time.Time `json:"committed_at"`
}

// entry returns the part as a LedgerEntry of ds.
func (p *ManifestPart) entry(ds Dataset) LedgerEntry {
	return LedgerEntry{Workspace: ds.Workspace, Dataset: ds.Name, Object: p.Object, Rows: p.Rows,
		Rejected: p.Rejected, Bytes: p.Bytes, CommittedAt: p.CommittedAt}
}

// part returns the part whose data file is file, or nil.
func (m *Manifest) part(file string) *ManifestPart {
	for i := range m.Parts {
		if m.Parts[i].File == file {
			return &m.Parts[i]
		}
	}
	return nil
}

// clone returns a deep enough copy for apply to change.
func (m *Manifest) clone() *Manifest {
	c := *m
	c.Dataset.Columns = slices.Clone(m.Dataset.Columns)
	c.History = slices.Clone(m.History)
	c.Parts = slices.Clone(m.Parts)
	return &c
}

// conflict returns the first column of cols that the manifest has with
// another type, as a *SchemaConflictError, or nil.
func (m *Manifest) conflict(ds Dataset, cols []Column) error {
	if m == nil {
		return nil
	}
	for _, c := range cols {
		if have := m.Dataset.Column(c.Name); have != nil && have.Type != c.Type {
			return &SchemaConflictError{Dataset: ds, Column: c.Name, Have: have.Type, Want: c.Type}
		}
	}
	return nil
}

// replacing reports whether committing with plan replaces the other
// versions of the object's key: the dataset's modified policy is replace.
// Which versions it replaces is decided at commit, under the dataset's lock
// (Manifest.superseded, Postgres' key lock), not from what Lookup saw when
// the source was listed: two tasks that saw different versions of one key
// must end with the newer one, whichever commits last.
func replacing(plan Plan) bool {
	return plan.Replace || plan.Settings.WithDefaults().Modified == ModifiedReplace
}

// newerVersion reports whether committed version q of a key was modified
// after obj: both have a LastModified and q's is later. Versions without
// one (tests, ledgers written before it was recorded) are never newer, so
// a commit replaces them as it always did; versions modified at the same
// time with other ETags replace each other (the last commit wins).
func newerVersion(q, obj ObjectRef) bool {
	return !q.LastModified.IsZero() && !obj.LastModified.IsZero() && q.LastModified.After(obj.LastModified)
}

// superseded reports whether committing obj with plan would replace a
// newer version of its key that m lists: the commit is then discarded, like
// a duplicate, and the newer version stays.
func (m *Manifest) superseded(obj ObjectRef, plan Plan) bool {
	if m == nil || !replacing(plan) {
		return false
	}
	for _, q := range m.Parts {
		if q.Object.Bucket == obj.Bucket && q.Object.Key == obj.Key && newerVersion(q.Object, obj) {
			return true
		}
	}
	return false
}

// apply adds the committed part p of obj, as plan says, to m (a fresh
// dataset when m's version is 0): new columns are appended and recorded in
// a new schema version, and when the modified policy is replace
// (replacing) the key's other versions leave the manifest (returned, for
// their files to be removed; the caller has checked with superseded that
// none of them is newer than obj). A column
// that m has with another type is a *SchemaConflictError and m is left
// unchanged: a FileSink never widens a column.
func (m *Manifest) apply(ds Dataset, obj ObjectRef, plan Plan, p ManifestPart) (removed []ManifestPart, err error) {
	if err := m.conflict(ds, plan.Columns); err != nil {
		return nil, err
	}
	now := p.CommittedAt
	label := objectName(obj)
	var added []Column
	for _, c := range plan.Columns {
		if m.Dataset.Column(c.Name) != nil {
			continue
		}
		if !c.Pinned && !IsReserved(c.Name) && c.AddedBy == "" {
			c.AddedBy = label
		}
		c.AddedAt = now
		added = append(added, c)
	}
	created := m.Dataset.Version == 0
	if created {
		m.Format = ManifestFormat
		m.Dataset.Workspace, m.Dataset.Name = ds.Workspace, ds.Name
		m.Dataset.Settings = plan.Settings.WithDefaults()
		m.Dataset.Created = now
	} else if c := plan.Settings.Compression; c != CodecDefault {
		// A physical setting: the codec of this commit's file becomes the
		// dataset's (see Settings.Compression).
		m.Dataset.Settings.Compression = c
	}
	if created || len(added) > 0 {
		m.Dataset.Columns = append(m.Dataset.Columns, added...)
		m.Dataset.Version++
		ch := SchemaChange{Version: m.Dataset.Version, At: now, Object: label, Added: added}
		switch {
		case plan.Change != nil && plan.Change.Reason != "":
			ch.Reason = plan.Change.Reason
		case created:
			ch.Reason = "created from s3://" + obj.Bucket + "/" + obj.Key
		default:
			ch.Reason = "new columns in s3://" + obj.Bucket + "/" + obj.Key
		}
		m.History = append(m.History, ch)
	}
	if replacing(plan) {
		kept := m.Parts[:0]
		for _, q := range m.Parts {
			if q.Object.Bucket == obj.Bucket && q.Object.Key == obj.Key && q.File != p.File {
				removed = append(removed, q)
				continue
			}
			kept = append(kept, q)
		}
		m.Parts = kept
	}
	m.Parts = append(m.Parts, p)
	m.Dataset.Updated = now
	m.recount()
	return removed, nil
}

// recount sets the dataset's object and row counts from its parts.
func (m *Manifest) recount() {
	m.Dataset.Objects, m.Dataset.Rows = int64(len(m.Parts)), 0
	for _, p := range m.Parts {
		m.Dataset.Rows += p.Rows
	}
}

// readManifestFile reads dir's manifest. It returns nil, nil, nil when
// there is none; info identifies the file read (for the writer's
// compare-and-swap).
func readManifestFile(dir string) (*Manifest, os.FileInfo, error) {
	f, m, info, err := openManifest(dir)
	if f != nil {
		f.Close()
	}
	return m, info, err
}

// openManifest reads dir's manifest and returns it with its file, still
// open (nil, and a nil manifest, when there is none).
func openManifest(dir string) (*os.File, *Manifest, os.FileInfo, error) {
	f, err := os.Open(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	var m Manifest
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if m.Format != ManifestFormat {
		f.Close()
		return nil, nil, nil, fmt.Errorf("%s: manifest format %d, this version reads %d", f.Name(), m.Format, ManifestFormat)
	}
	return f, &m, info, nil
}

// ReadManifest reads the manifest of a FileSink dataset directory. A
// directory written by an earlier version (part files with their ledger
// entry in their metadata, no manifest) is read as the manifest the sink
// builds from its parts when it first opens the dataset. A directory with
// neither (or a dataset whose first commit has not finished) gives an
// error wrapping ErrDatasetNotFound.
func ReadManifest(dir string) (*Manifest, error) {
	m, _, err := readManifestFile(dir)
	if err == nil && m == nil {
		m, err = buildManifest(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read dataset manifest: %w", err)
	}
	if m == nil || m.Dataset.Version == 0 { // none, or being created
		return nil, fmt.Errorf("%s: %w", dir, ErrDatasetNotFound)
	}
	return m, nil
}

// legacyParts lists the data files in dir, sorted by name.
func legacyParts(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	slices.Sort(paths)
	return paths, err
}

// buildManifest builds the manifest of a dataset directory written before
// manifests existed from its part files' metadata (MetaLedger, MetaSchema),
// in commit order. Columns come in first-seen order, all nullable; a column
// that parts have with different types gets the type all of them convert
// to without loss (int64 → float64 → string, date → timestamp, else
// string), recorded as a widening; readers convert the older parts' values.
// It returns nil when dir has no parts.
func buildManifest(dir string) (*Manifest, error) {
	paths, err := legacyParts(dir)
	if err != nil || len(paths) == 0 {
		return nil, err
	}
	type legacy struct {
		file  string
		entry LedgerEntry
		sch   *schema.Schema
	}
	parts := make([]legacy, 0, len(paths))
	for _, p := range paths {
		entry, sch, err := ReadPart(p)
		if err != nil {
			return nil, fmt.Errorf("migrate %s: %w", dir, err)
		}
		parts = append(parts, legacy{filepath.Base(p), entry, sch})
	}
	slices.SortStableFunc(parts, func(a, b legacy) int { return a.entry.CommittedAt.Compare(b.entry.CommittedAt) })

	m := &Manifest{Format: ManifestFormat}
	first := parts[0].entry
	m.Dataset = DatasetInfo{Workspace: first.Workspace, Name: first.Dataset, Settings: Settings{}.WithDefaults(), Created: first.CommittedAt}
	for i, lp := range parts {
		o, at := lp.entry.Object, lp.entry.CommittedAt
		ch := SchemaChange{At: at, Object: objectName(o)}
		for _, f := range lp.sch.Fields {
			have := m.Dataset.Column(f.Name)
			if have == nil {
				ch.Added = append(ch.Added, Column{Name: f.Name, Type: f.Type, Nullable: true, AddedBy: objectName(o), AddedAt: at, Reason: f.Reason})
				continue
			}
			if t := commonType(have.Type, f.Type); t != have.Type {
				ch.Widened = append(ch.Widened, Widening{Column: f.Name, From: have.Type, To: t})
				have.Reason = fmt.Sprintf("parts written before the dataset record have %s and %s: read as %s", have.Type, f.Type, t)
				have.Type = t
			}
		}
		m.Dataset.Columns = append(m.Dataset.Columns, ch.Added...)
		if i == 0 || len(ch.Added) > 0 || len(ch.Widened) > 0 {
			m.Dataset.Version++
			ch.Version = m.Dataset.Version
			switch {
			case i == 0:
				ch.Reason = "created from s3://" + o.Bucket + "/" + o.Key + " (recorded from the part files written before the dataset record)"
			case len(ch.Widened) > 0:
				ch.Reason = "columns with another type in s3://" + o.Bucket + "/" + o.Key + " (recorded from the part files written before the dataset record)"
			default:
				ch.Reason = "new columns in s3://" + o.Bucket + "/" + o.Key + " (recorded from the part files written before the dataset record)"
			}
			m.History = append(m.History, ch)
		}
		mp := ManifestPart{File: lp.file, Object: o, Rows: lp.entry.Rows, Rejected: lp.entry.Rejected, Bytes: lp.entry.Bytes, CommittedAt: at}
		rej := filepath.Join(rejectsDir, strings.TrimSuffix(lp.file, ".parquet")+".ndjson")
		if _, err := os.Stat(filepath.Join(dir, rej)); err == nil {
			mp.RejectsFile = rej
		}
		m.Parts = append(m.Parts, mp)
		m.Dataset.Updated = at
	}
	m.recount()
	return m, nil
}

// commonType returns the type both a and b convert to without loss.
func commonType(a, b schema.Type) schema.Type {
	switch {
	case a == b:
		return a
	case a == schema.Int64 && b == schema.Float64, a == schema.Float64 && b == schema.Int64:
		return schema.Float64
	case a == schema.Date && b == schema.Timestamp, a == schema.Timestamp && b == schema.Date:
		return schema.Timestamp
	default:
		return schema.String
	}
}

// lockedDataset is a dataset directory whose lock this process holds.
type lockedDataset struct {
	dir  string
	lock *os.File
	// m is the current manifest (nil: the dataset does not exist yet) and
	// info identifies its file (nil: none).
	m    *Manifest
	info os.FileInfo
}

// lockDataset takes dir's lock (flock on dir/.lock, waiting as long as ctx
// allows; the kernel releases it if the process dies) and reads the
// manifest, building and writing it first for a directory written before
// manifests existed.
func (s *FileSink) lockDataset(ctx context.Context, ds Dataset, dir string) (*lockedDataset, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file sink: create dataset %s: %w", ds, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("file sink: lock dataset %s: %w", ds, err)
	}
	delay := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("file sink: lock dataset %s: %w", ds, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("file sink: lock dataset %s: %w", ds, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
	ld := &lockedDataset{dir: dir, lock: f}
	ld.m, ld.info, err = readManifestFile(dir)
	if err == nil && ld.m == nil {
		var m *Manifest
		if m, err = buildManifest(dir); err == nil && m != nil {
			err = ld.save(m)
		}
	}
	if err != nil {
		ld.unlock()
		return nil, fmt.Errorf("file sink: dataset %s: %w", ds, err)
	}
	if ld.m != nil {
		if _, done := s.swept.LoadOrStore(dir, struct{}{}); !done {
			s.sweepGarbage(ld)
		}
	}
	return ld, nil
}

// unlock releases the lock.
func (ld *lockedDataset) unlock() {
	_ = syscall.Flock(int(ld.lock.Fd()), syscall.LOCK_UN)
	ld.lock.Close()
}

// errManifestChanged reports that the manifest was replaced while this
// writer held the lock: the lock is not working (a writer that ignores it,
// a file system without flock). Transient: the object is committed again.
var errManifestChanged = errors.New("dataset manifest changed under the dataset lock")

// save replaces the manifest with m (Revision: the current one's plus 1)
// if the manifest is still the file that was read (compare-and-swap on
// the file's identity, the fencing of the lock).
func (ld *lockedDataset) save(m *Manifest) error {
	path := filepath.Join(ld.dir, ManifestFile)
	cur, err := os.Stat(path)
	switch {
	case ld.info == nil && err == nil,
		ld.info != nil && err != nil,
		ld.info != nil && (!os.SameFile(ld.info, cur) || ld.info.Size() != cur.Size() || !ld.info.ModTime().Equal(cur.ModTime())):
		return errManifestChanged
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	m.Format = ManifestFormat
	if ld.m != nil {
		m.Revision = ld.m.Revision + 1
	} else {
		m.Revision = 1
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := syncClose(f); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := syncDir(ld.dir); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	ld.m, ld.info = m, info
	return nil
}

// sweepGarbage removes the data and rejects files that the manifest does
// not list (left by commits that crashed before their manifest update, or
// by replacements) once they are older than StaleTempAge. Called under the
// lock, so no commit is between publishing its files and its manifest.
func (s *FileSink) sweepGarbage(ld *lockedDataset) {
	listed := make(map[string]bool, 2*len(ld.m.Parts))
	for _, p := range ld.m.Parts {
		listed[p.File] = true
		if p.RejectsFile != "" {
			listed[p.RejectsFile] = true
		}
	}
	cutoff := time.Now().Add(-s.opt.StaleTempAge)
	for _, pattern := range []string{"part-*.parquet", filepath.Join(rejectsDir, "part-*.ndjson")} {
		paths, _ := filepath.Glob(filepath.Join(ld.dir, pattern))
		for _, p := range paths {
			rel, _ := filepath.Rel(ld.dir, p)
			if listed[rel] {
				continue
			}
			if info, err := os.Lstat(p); err == nil && info.ModTime().Before(cutoff) {
				_ = os.Remove(p)
			}
		}
	}
}

// current returns the manifest of ds (nil: the dataset does not exist),
// migrating a directory written before manifests existed. The manifest
// may be shared with other callers: it must not be changed.
func (s *FileSink) current(ctx context.Context, ds Dataset) (*Manifest, string, error) {
	dir, err := s.DatasetDir(ds)
	if err != nil {
		return nil, "", err
	}
	m, err := s.manifests.get(dir)
	if err != nil {
		return nil, dir, fmt.Errorf("file sink: dataset %s: %w", ds, err)
	}
	if m != nil {
		return m, dir, nil
	}
	parts, err := legacyParts(dir)
	if err != nil || len(parts) == 0 {
		return nil, dir, err
	}
	ld, err := s.lockDataset(ctx, ds, dir)
	if err != nil {
		return nil, dir, err
	}
	defer ld.unlock()
	return ld.m, dir, nil
}
