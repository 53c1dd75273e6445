package parquet

import "github.com/s3ingest/s3ingest/parsers/internal/parquetguard"

// Row groups are fetched in read-ahead windows: a row group whose column
// chunks span no more than the window (Reader.prefetchMax: ReadAheadWindow,
// PreviewReadAhead for a preview) is fetched with one request together with
// the row groups that follow it in the file, as long as the whole stays
// within the window. A file of many small row groups (32,767 one-row groups
// took one ranged GET each, ~45 s against S3) is thus read with one request
// per window.
//
// While the rows of one window are read, the next window is fetched in the
// background (not for a preview, which needs its first rows only), so that
// the request's latency and transfer overlap the decoding: the reader holds
// at most two windows, 2 × ReadAheadWindow. The goroutine that fetches it
// ends with the fetch; the reader waits for it before it uses the window,
// and in Close. Its context is that of the call to Next that started it
// (see parsers' objectReaderAt): a failed or cancelled background fetch is
// dropped and the window fetched again, by the reader, with the current
// context, so that an error is reported where it happens.
//
// A preview's window ends once it holds the rows the preview asks for.
// A row group larger than the window is read column by column through the
// page readers' buffers (see readBufferSize).

// maxWindowGap is the most bytes between two row groups' data (e.g. a bloom
// filter or a page index a writer put there) that a window spans: fetching
// them costs less than one more request.
const maxWindowGap = 64 << 10

// rowGroupRange is the byte range [start, end) of row group i's column
// chunks; start < 0 when it has none.
func (r *Reader) rowGroupRange(i int) (start, end int64) {
	g := &r.md.RowGroups[i]
	start = -1
	for j := range g.Columns {
		s, e := parquetguard.ChunkRange(&g.Columns[j])
		if start < 0 || s < start {
			start = s
		}
		end = max(end, e)
	}
	return start, end
}

// window returns the range to fetch with one request so that row group i is
// served from memory: from i's start to the end of the last row group
// after i that follows the previous one (by at most maxWindowGap) and keeps
// the range within Reader.prefetchMax. ok is false when row group i alone
// is larger than that (or has no data). A preview's window stops once it
// holds Config.BatchRows rows.
func (r *Reader) window(i int) (start, end int64, ok bool) {
	start, end = r.rowGroupRange(i)
	if start < 0 || end-start > r.prefetchMax {
		return 0, 0, false
	}
	rows := r.md.RowGroups[i].NumRows
	for j := i + 1; j < len(r.md.RowGroups); j++ {
		if r.cfg.Preview && rows >= int64(r.cfg.BatchRows) {
			break
		}
		s, e := r.rowGroupRange(j)
		if s < 0 {
			continue // no column chunks: nothing to fetch
		}
		if s < end || s-end > maxWindowGap || e-start > r.prefetchMax {
			break
		}
		end = e
		rows += r.md.RowGroups[j].NumRows
	}
	return start, end, true
}

// fetchRowGroup makes row group i's column chunks readable from memory
// when they fit a window: it keeps the current window if it holds them, or
// takes the next one (fetched in the background, or now); a row group
// larger than the window drops the cache. Then it starts fetching the
// window after the current one.
func (r *Reader) fetchRowGroup(i int) error {
	s, e := r.rowGroupRange(i)
	if s >= 0 && r.src.cached(s, e) {
		return nil
	}
	start, end, ok := r.window(i)
	if !ok {
		return r.src.cacheRange(0, 0)
	}
	if !r.src.useAhead(start, end-start) {
		if err := r.src.cacheRange(start, end-start); err != nil {
			return err
		}
	}
	if r.cfg.Preview {
		return nil
	}
	// the first row group after the window
	j := i + 1
	for ; j < len(r.md.RowGroups); j++ {
		if s, e := r.rowGroupRange(j); s >= 0 && (s < start || e > end) {
			break
		}
	}
	if j < len(r.md.RowGroups) {
		if s, e, ok := r.window(j); ok {
			r.src.fetchAhead(s, e-s)
		}
	}
	return nil
}
