package source

import (
	"fmt"
	"strings"
	"time"
)

// Fetch defaults and limits (see FetchOptions).
const (
	// DefaultPartSize is the size of each ranged GET of a parallel read.
	// With DefaultFetchConcurrency it was chosen by BenchmarkS3Throughput
	// (80 MB/s and 20 ms to the first byte per connection): for the same
	// 32 MiB of buffers, 4 MiB × 8 hides the first-byte latency of each
	// GET better than 8 MiB × 4 (measured 270–350 MB/s against 220–230).
	DefaultPartSize = 4 << 20
	// DefaultFetchConcurrency is how many parts of one read are in flight
	// at once.
	DefaultFetchConcurrency = 8
	// MinPartSize and MaxPartSize bound FetchOptions.PartSize.
	MinPartSize = 64 << 10
	MaxPartSize = 256 << 20
	// MaxFetchConcurrency bounds FetchOptions.Concurrency.
	MaxFetchConcurrency = 64
	// MaxFetchBytes bounds PartSize × Concurrency, the memory one parallel
	// read may hold.
	MaxFetchBytes = 512 << 20
	// maxPartResumes is how many times one part whose body broke off is
	// requested again from where it stopped before the read fails.
	maxPartResumes = 3
)

// FetchOptions say how Object.Open reads a long range: as ranged GETs of
// PartSize bytes, Concurrency of them in flight at once, reassembled in
// order into the stream the caller reads. One S3 connection delivers
// roughly 50–100 MB/s; several in parallel fill the caller's bandwidth.
//
// A range is fetched in parts only when its length is known (from the
// listed size or the requested length) and longer than two parts, and
// Concurrency > 1: shorter reads (a Parquet column chunk or row group, a
// footer, a preview's head) stay one GET.
//
// Memory: a parallel read holds at most Concurrency × PartSize bytes of
// buffers (32 MiB at the defaults), allocated as parts start and released
// by Close; the caller reads them in place. Count it in the per-object
// budget (parsers.ObjectMemoryBudget covers the parser only).
//
// The zero value is the defaults.
type FetchOptions struct {
	// PartSize is the length of each ranged GET (default DefaultPartSize,
	// 4 MiB; MinPartSize to MaxPartSize).
	PartSize int64
	// Concurrency is how many parts of one read are requested at once
	// (default DefaultFetchConcurrency, 8; at most MaxFetchConcurrency). 1
	// reads every range with one GET.
	Concurrency int
	// Mode says whether a long range of an S3-compatible server (a custom
	// endpoint) tries one GET against parts before choosing (FetchAdaptive,
	// the default) or is always read in parts (FetchParts). AWS S3 itself
	// is read in parts either way.
	Mode FetchMode
	// Observe, if set, is told each choice of an adaptive read (for
	// metrics and logs); it is called by the read's Read, on the caller's
	// goroutine, and must not block.
	Observe func(FetchChoice)
}

// FetchChoice is what an adaptive read measured on its first two rounds
// and chose for the rest.
type FetchChoice struct {
	// Object names the object (s3://bucket/key).
	Object string
	// Parts is true when the rest is read in parts, false for one GET.
	Parts bool
	// GETBytesPerSecond and PartsBytesPerSecond are the two windows'
	// rates as the caller read them.
	GETBytesPerSecond, PartsBytesPerSecond float64
	// GETWait and PartsWait are the times the caller spent waiting
	// inside Read in each window (window A's also in Open, for the GET's
	// answer), which the choice weighs.
	GETWait, PartsWait time.Duration
}

// FetchMode says how a range of at least four rounds of parts (4 ×
// PartSize × Concurrency) is read.
type FetchMode int

const (
	// FetchAdaptive reads AWS S3 (no custom Endpoint) in parts, and from
	// an S3-compatible server reads the range's first round (PartSize ×
	// Concurrency bytes) through one GET of the whole range and its second
	// in parts, timing how long the caller waits inside Read in each, and
	// the rest in parts if the second round as one GET (the caller's own
	// time in it plus its wait for the GET in the first) would have taken
	// at least 1.25 times as long, else through one GET. Parts win over a
	// network where one connection is slower than the caller (a remote
	// service; AWS S3 gives 50–100 MB/s a connection); one GET wins when
	// it keeps ahead of the caller (parts only add requests and work), or
	// when the server answers ranged GETs slowly (SeaweedFS storing text
	// gzipped: 3–4× slower).
	FetchAdaptive FetchMode = iota
	// FetchParts reads every range longer than two parts in parts.
	FetchParts
)

// String returns "adaptive" or "parts".
func (m FetchMode) String() string {
	switch m {
	case FetchAdaptive:
		return "adaptive"
	case FetchParts:
		return "parts"
	}
	return fmt.Sprintf("FetchMode(%d)", int(m))
}

// ParseFetchMode parses "adaptive" (or "") and "parts".
func ParseFetchMode(s string) (FetchMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "adaptive":
		return FetchAdaptive, nil
	case "parts":
		return FetchParts, nil
	}
	return 0, fmt.Errorf("%q is not a fetch mode: want adaptive or parts", s)
}

// Validate checks the options; errors are *FetchOptionError, naming the
// field and the limits.
func (f FetchOptions) Validate() error {
	switch {
	case f.PartSize != 0 && (f.PartSize < MinPartSize || f.PartSize > MaxPartSize):
		return &FetchOptionError{Fields: []string{"PartSize"},
			Reason: fmt.Sprintf("%d is not between %d (64 KiB) and %d (256 MiB) bytes (0 means %d)", f.PartSize, MinPartSize, MaxPartSize, DefaultPartSize)}
	case f.Mode != FetchAdaptive && f.Mode != FetchParts:
		return &FetchOptionError{Fields: []string{"Mode"}, Reason: fmt.Sprintf("%d is not FetchAdaptive or FetchParts", int(f.Mode))}
	case f.Concurrency < 0 || f.Concurrency > MaxFetchConcurrency:
		return &FetchOptionError{Fields: []string{"Concurrency"},
			Reason: fmt.Sprintf("%d is not between 0 and %d (0 means %d; 1 reads with one GET)", f.Concurrency, MaxFetchConcurrency, DefaultFetchConcurrency)}
	}
	ps, cc := f.PartSize, f.Concurrency
	if ps == 0 {
		ps = DefaultPartSize
	}
	if cc == 0 {
		cc = DefaultFetchConcurrency
	}
	if ps*int64(cc) > MaxFetchBytes {
		return &FetchOptionError{Fields: []string{"PartSize", "Concurrency"},
			Reason: fmt.Sprintf("%d × %d bytes of buffers per read is more than %d (512 MiB)", ps, cc, MaxFetchBytes)}
	}
	return nil
}

// FetchOptionError is the error of FetchOptions.Validate. Callers that
// configure the options under other names (a config struct's fields,
// environment variables) rename Fields with Rename.
type FetchOptionError struct {
	// Fields are the FetchOptions fields at fault ("PartSize",
	// "Concurrency"; both when their product is too large).
	Fields []string
	// Reason says what is wrong with them and the limits.
	Reason string
}

// Error returns "Field: reason", or "PartSize × Concurrency: reason".
func (e *FetchOptionError) Error() string {
	return strings.Join(e.Fields, " × ") + ": " + e.Reason
}

// Rename returns the error with each field f renamed to name(f).
func (e *FetchOptionError) Rename(name func(field string) string) *FetchOptionError {
	out := &FetchOptionError{Reason: e.Reason, Fields: make([]string, len(e.Fields))}
	for i, f := range e.Fields {
		out.Fields[i] = name(f)
	}
	return out
}

// withDefaults fills zero fields and clamps values out of range (New does
// not fail; callers check with Validate).
func (f FetchOptions) withDefaults() FetchOptions {
	if f.PartSize == 0 {
		f.PartSize = DefaultPartSize
	}
	f.PartSize = max(MinPartSize, min(MaxPartSize, f.PartSize))
	if f.Concurrency == 0 {
		f.Concurrency = DefaultFetchConcurrency
	}
	f.Concurrency = max(1, min(MaxFetchConcurrency, f.Concurrency))
	if f.PartSize*int64(f.Concurrency) > MaxFetchBytes {
		f.Concurrency = int(MaxFetchBytes / f.PartSize)
	}
	return f
}

// BufferBytes returns the most memory one parallel read holds with these
// options: PartSize × Concurrency after defaults (0 when every read is one
// GET, Concurrency 1).
func (f FetchOptions) BufferBytes() int64 {
	d := f.withDefaults()
	if d.Concurrency <= 1 {
		return 0
	}
	return d.PartSize * int64(d.Concurrency)
}

// parallel reports whether a range of length n is fetched in parts.
func (f FetchOptions) parallel(n int64) bool {
	return f.Concurrency > 1 && n > 2*f.PartSize
}
