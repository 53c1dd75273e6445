package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/worker/source"
)

// firstKeys is how many keys a preview's listing reports.
const firstKeys = 10

// sampleListing walks src (HeadObject for explicit keys), counting objects
// and bytes up to limit (then Listing.Truncated is set), keeping the first
// keys, and returns the first non-empty object, or nil.
func sampleListing(ctx context.Context, c *source.Client, src jobs.Source, limit, keys int) (jobs.Listing, *source.ObjectInfo, error) {
	var (
		l     jobs.Listing
		first *source.ObjectInfo
	)
	err := c.Each(ctx, selection(src), func(info source.ObjectInfo) error {
		if l.Objects >= int64(limit) {
			l.Truncated = true
			return source.StopEach
		}
		l.Objects++
		l.Bytes += info.Size
		if info.Size > 0 {
			if l.Formats == nil {
				l.Formats = map[string]int64{}
			}
			l.Formats[formatByName(info.Key)]++
		}
		if len(l.FirstKeys) < keys {
			l.FirstKeys = append(l.FirstKeys, info.Key)
		}
		if first == nil && info.Size > 0 {
			first = &info
		}
		return nil
	})
	if err != nil {
		return l, nil, err
	}
	return l, first, nil
}

// HandlePreview runs a jobs.TypePreview task: it lists the matching objects
// (count, total bytes, first keys; at most Config.PreviewListLimit are
// counted), then sniffs and samples the first non-empty object with bounded
// ranged reads, and stores a jobs.PreviewResult on the task.
func (h *Handlers) HandlePreview(ctx context.Context, t *asynq.Task) error {
	var p jobs.PreviewPayload
	if err := jobs.Decode(t.Payload(), &p); err != nil {
		return err
	}
	log := h.log.With(zap.String("task_id", taskID(t)), zap.String("workspace", p.WorkspaceID), zap.Stringer("source", p.Source))
	res, err := h.Preview(ctx, p)
	if err != nil {
		log.Warn("preview: failed", zap.Error(err))
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode preview result: %w", err)
	}
	if w := t.ResultWriter(); w != nil {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("store preview result: %w", err)
		}
	}
	log.Info("preview: done", zap.String("object", res.Object), zap.String("format", string(res.Format)),
		zap.Int64("objects", res.Listing.Objects))
	return nil
}

// Preview computes a preview without a task (ingestctl and tests use it).
func (h *Handlers) Preview(ctx context.Context, p jobs.PreviewPayload) (*jobs.PreviewResult, error) {
	c, _, err := h.client(ctx, p.WorkspaceID, p.CredentialID)
	if err != nil {
		return nil, err
	}
	var res jobs.PreviewResult
	listing, first, err := sampleListing(ctx, c, p.Source, h.cfg.PreviewListLimit, firstKeys)
	if err != nil {
		return nil, err
	}
	res.Listing = listing
	if first == nil {
		return nil, &Permanent{Err: fmt.Errorf("no non-empty object matches %s (check the bucket, prefix and glob)", p.Source)}
	}
	obj := c.Object(ctx, *first)
	pr, err := parsers.Preview(ctx, obj, p.Parse, p.Rows, h.cfg.PreviewHeadBytes)
	if err != nil {
		return nil, err
	}
	res.Object = obj.Name()
	res.PreviewResult = pr
	if w := mixedFormats(listing.Formats); w != "" {
		pr.Warnings = append(pr.Warnings, w)
	}
	return &res, nil
}

// formatByName returns the format a key's extension names (csv, json,
// parquet), after a compression extension, or "unknown".
func formatByName(key string) string {
	k := strings.ToLower(path.Base(key))
	for _, ext := range []string{".gz", ".gzip", ".zst", ".zstd", ".bz2"} {
		k = strings.TrimSuffix(k, ext)
	}
	switch path.Ext(k) {
	case ".csv", ".tsv", ".txt", ".psv":
		return "csv"
	case ".json", ".ndjson", ".jsonl":
		return "json"
	case ".parquet", ".pq":
		return "parquet"
	}
	return "unknown"
}

// mixedFormats returns a warning when the listed objects' names say more
// than one format ("" otherwise): each object is sniffed and read on its
// own, and the dataset gets the union of their columns.
func mixedFormats(formats map[string]int64) string {
	known := 0
	for f := range formats {
		if f != "unknown" {
			known++
		}
	}
	if known < 2 {
		return ""
	}
	names := slices.Sorted(maps.Keys(formats))
	parts := make([]string, len(names))
	for i, f := range names {
		parts[i] = fmt.Sprintf("%d %s", formats[f], f)
	}
	return fmt.Sprintf("the prefix mixes formats (%s objects by their names): each object is sniffed and read on its own, "+
		"and the dataset gets the columns of all of them; narrow the prefix or glob if that is not intended", strings.Join(parts, ", "))
}
