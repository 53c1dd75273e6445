package sink

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// manifestCacheSize bounds the manifests a FileSink keeps parsed (and
// their files open).
const manifestCacheSize = 64

// manifestCache keeps the parsed manifests of recently read datasets with
// their files open. A manifest is never changed in place, only replaced by
// a rename, and the inode of an open file cannot be reused, so a manifest
// path that is still the same file as a cached one holds the cached
// content: Lookup on a dataset of many parts parses its manifest once per
// commit, not once per object.
type manifestCache struct {
	mu      sync.Mutex
	entries map[string]*cachedManifest // by dataset directory
}

type cachedManifest struct {
	f    *os.File
	info os.FileInfo
	m    *Manifest
}

// get returns dir's manifest (nil when there is none), from the cache when
// it is still current.
func (c *manifestCache) get(dir string) (*Manifest, error) {
	st, err := os.Stat(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		c.put(dir, nil)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e := c.entries[dir]
	c.mu.Unlock()
	if e != nil && os.SameFile(e.info, st) {
		return e.m, nil
	}
	f, m, info, err := openManifest(dir)
	if err != nil || m == nil {
		return m, err
	}
	c.put(dir, &cachedManifest{f: f, info: info, m: m})
	return m, nil
}

// put replaces dir's entry with e (nil: removes it), closing the files of
// the entries it drops.
func (c *manifestCache) put(dir string, e *cachedManifest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[dir]; old != nil {
		old.f.Close()
		delete(c.entries, dir)
	}
	if e == nil {
		return
	}
	if c.entries == nil {
		c.entries = make(map[string]*cachedManifest)
	}
	for k, old := range c.entries { // evict any one when full
		if len(c.entries) < manifestCacheSize {
			break
		}
		old.f.Close()
		delete(c.entries, k)
	}
	c.entries[dir] = e
}

// clear closes and drops every entry.
func (c *manifestCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		e.f.Close()
		delete(c.entries, k)
	}
}
