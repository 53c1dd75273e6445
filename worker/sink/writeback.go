package sink

import "os"

// startWriteback is writebackRange; tests replace it to see the requests.
var startWriteback = writebackRange

// writebackBytes is how much a data file grows between two requests to
// start writing it back (see writebackFile).
const writebackBytes = 8 << 20

// writebackFile is a Writer's data file as parquet-go writes it (row group
// by row group). Every writebackBytes it asks the kernel to start writing
// the bytes since the last request to disk, without waiting (Linux:
// sync_file_range with SYNC_FILE_RANGE_WRITE; elsewhere nothing), so the
// disk works while the next row groups are encoded and the fsync of
// Commit only waits for the tail of the file instead of all of it — the
// bytes_per_sync of RocksDB. Durability is unchanged: it is the fsync that
// makes the file durable, and its error that Commit reports (a request
// without SYNC_FILE_RANGE_WAIT_* leaves the file's write-back error for
// fsync to report); a failed request is only a lost hint. A request may
// block while the disk's queue is full, which slows the writer to the
// disk's pace rather than letting dirty pages pile up.
type writebackFile struct {
	f       *os.File
	written int64 // bytes written
	started int64 // bytes whose write-back was requested
}

func (w *writebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.started >= writebackBytes {
		startWriteback(w.f, w.started, w.written-w.started)
		w.started = w.written
	}
	return n, err
}
