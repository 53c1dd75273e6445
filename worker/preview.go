package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/worker/source"
)

// firstKeys is how many keys a preview's listing reports.
const firstKeys = 10

// errStopListing ends a listing early without an error.
var errStopListing = errors.New("stop listing")

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
	var (
		res   jobs.PreviewResult
		first *source.ObjectInfo
	)
	visit := func(info source.ObjectInfo) error {
		if res.Listing.Objects >= int64(h.cfg.PreviewListLimit) {
			res.Listing.Truncated = true
			return errStopListing
		}
		res.Listing.Objects++
		res.Listing.Bytes += info.Size
		if len(res.Listing.FirstKeys) < firstKeys {
			res.Listing.FirstKeys = append(res.Listing.FirstKeys, info.Key)
		}
		if first == nil && info.Size > 0 {
			first = &info
		}
		return nil
	}
	s := p.Source
	if len(s.Keys) > 0 {
		for _, k := range s.Keys {
			info, err := c.Head(ctx, s.Bucket, k, s.VersionID)
			if err != nil {
				return nil, s3Error(err)
			}
			_ = visit(info)
		}
	} else if err := c.List(ctx, s.Bucket, s.Prefix, s.Glob, visit); err != nil && !errors.Is(err, errStopListing) {
		return nil, s3Error(err)
	}
	if first == nil {
		return nil, &Permanent{Err: fmt.Errorf("no non-empty object matches %s (check the bucket, prefix and glob)", s)}
	}
	obj := c.Object(ctx, *first)
	pr, err := parsers.Preview(ctx, obj, p.Parse, p.Rows, h.cfg.PreviewHeadBytes)
	if err != nil {
		if isPermanent(err) {
			return nil, err
		}
		return nil, s3Error(err)
	}
	res.Object = obj.Name()
	res.PreviewResult = pr
	return &res, nil
}
