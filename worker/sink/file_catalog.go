package sink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Lookup reports what ds's manifest lists of obj's key: this version
// (Loaded), and the key's other versions (Earlier), in commit order.
func (s *FileSink) Lookup(ctx context.Context, ds Dataset, obj ObjectRef) (Lookup, error) {
	if err := ds.Validate(); err != nil {
		return Lookup{}, err
	}
	if err := obj.validate(); err != nil {
		return Lookup{}, err
	}
	m, _, err := s.current(ctx, ds)
	if err != nil || m == nil {
		return Lookup{}, err
	}
	file := "part-" + ledgerHash(ds, obj) + ".parquet"
	var l Lookup
	for _, p := range m.Parts {
		switch {
		case p.File == file:
			l.Loaded = true
		case p.Object.Bucket == obj.Bucket && p.Object.Key == obj.Key:
			l.Earlier = append(l.Earlier, p.Object)
		}
	}
	return l, nil
}

// Capabilities: a Parquet directory cannot change a column's type without
// leaving two types under one name.
func (s *FileSink) Capabilities() Capabilities { return Capabilities{} }

// manifestOf returns the manifest of ds or an error wrapping
// ErrDatasetNotFound.
func (s *FileSink) manifestOf(ctx context.Context, ds Dataset) (*Manifest, string, error) {
	m, dir, err := s.current(ctx, ds)
	if err != nil {
		return nil, dir, err
	}
	if m == nil || m.Dataset.Version == 0 { // none, or being created
		return nil, dir, fmt.Errorf("file sink: dataset %s: %w", ds, ErrDatasetNotFound)
	}
	return m, dir, nil
}

// Dataset returns the record of ds from its manifest.
func (s *FileSink) Dataset(ctx context.Context, ds Dataset) (*DatasetInfo, error) {
	m, _, err := s.manifestOf(ctx, ds)
	if err != nil {
		return nil, err
	}
	info := m.Dataset
	info.Workspace, info.Name = ds.Workspace, ds.Name
	info.Columns = slices.Clone(info.Columns)
	return &info, nil
}

// Datasets lists the workspace's datasets (the directories with a manifest
// or with parts written before manifests existed) by name.
func (s *FileSink) Datasets(ctx context.Context, workspace string) ([]DatasetInfo, error) {
	if err := ValidateWorkspace(workspace); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(s.root, WorkspaceDirName(workspace)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("file sink: list datasets of workspace %s: %w", workspace, err)
	}
	var out []DatasetInfo
	for _, e := range ents {
		ds := Dataset{Workspace: workspace, Name: e.Name()}
		if !e.IsDir() || ValidateDataset(ds.Name) != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		info, err := s.Dataset(ctx, ds)
		if errors.Is(err, ErrDatasetNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *info)
	}
	return out, nil
}

// History returns the schema versions of ds from its manifest.
func (s *FileSink) History(ctx context.Context, ds Dataset) ([]SchemaChange, error) {
	m, _, err := s.manifestOf(ctx, ds)
	if err != nil {
		return nil, err
	}
	return slices.Clone(m.History), nil
}

// Rejects returns up to limit (all when limit <= 0) recorded rejected rows
// of the parts that ds's manifest lists, in commit order.
func (s *FileSink) Rejects(ctx context.Context, ds Dataset, limit int) ([]RecordedReject, error) {
	for attempt := 0; ; attempt++ {
		m, dir, err := s.manifestOf(ctx, ds)
		if err != nil {
			return nil, err
		}
		out, err := readRejects(dir, m, limit)
		if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			continue // a replacement removed a part after the manifest was read
		}
		if err != nil {
			return nil, fmt.Errorf("file sink: rejects of %s: %w", ds, err)
		}
		return out, nil
	}
}

// readRejects reads the rejects files of m's parts, in commit order, up to
// limit rows (all when limit <= 0).
func readRejects(dir string, m *Manifest, limit int) ([]RecordedReject, error) {
	var out []RecordedReject
	for _, p := range m.Parts {
		if p.RejectsFile == "" {
			continue
		}
		err := scanRejects(filepath.Join(dir, p.RejectsFile), func(r Reject) bool {
			out = append(out, RecordedReject{Object: p.Object, Reject: r})
			return limit <= 0 || len(out) < limit
		})
		if err != nil {
			return nil, err
		}
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

// scanRejects calls f for each reject of an NDJSON rejects file until f
// returns false.
func scanRejects(path string, f func(Reject) bool) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var r Reject
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if !f(r) {
			return nil
		}
	}
	return sc.Err()
}
