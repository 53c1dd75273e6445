package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker/sink"
	"github.com/s3ingest/s3ingest/worker/source"
)

// HandleDryRun runs a jobs.TypeDryRun task: it lists the ingest's source
// and asks the dataset's ledger about each object, as the ingest would,
// without reading an object or writing a row. The jobs.DryRunResult says
// what the ingest would do with each object.
func (h *Handlers) HandleDryRun(ctx context.Context, t *asynq.Task) error {
	var p jobs.IngestPayload
	if err := jobs.Decode(t.Payload(), &p); err != nil {
		return err
	}
	res, err := h.DryRun(ctx, p)
	if err != nil {
		h.log.Info("dry run: failed", zap.String("task_id", taskID(t)), zap.String("dataset", p.Dataset), zap.Error(err))
		return err
	}
	if w := t.ResultWriter(); w != nil {
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("dry run: encode result: %w", err)
		}
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("dry run: write result: %w", err)
		}
	}
	return nil
}

// DryRun says what the ingest p would do with each object of its source.
// Like the ingest, a source that matches nothing is an error (*NoMatchError)
// and the dataset's modified-object policy (or, for a new dataset, the
// job's) decides about new versions of loaded keys.
func (h *Handlers) DryRun(ctx context.Context, p jobs.IngestPayload) (*jobs.DryRunResult, error) {
	c, _, err := h.client(ctx, p.WorkspaceID, p.CredentialID)
	if err != nil {
		return nil, err
	}
	ds := sink.Dataset{Workspace: p.WorkspaceID, Name: p.Dataset}
	settings, _, _ := contractOf(p.Contract)
	res := &jobs.DryRunResult{Dataset: p.Dataset, Counts: map[jobs.DryRunAction]int64{}}
	rec, err := h.sink.Dataset(ctx, ds)
	switch {
	case err == nil:
		res.DatasetExists = true
		if diff := sink.SettingsDiff(rec.Settings, settings); len(diff) > 0 {
			return nil, &sink.ContractError{Dataset: ds, Differences: diff}
		}
		settings = rec.Settings
	case !errors.Is(err, sink.ErrDatasetNotFound):
		return nil, fmt.Errorf("dataset %s: %w", ds, err)
	}
	settings = settings.WithDefaults()
	listed := 0
	err = c.Each(ctx, selection(p.Source), func(info source.ObjectInfo) error {
		listed++
		action := jobs.DryRunRead
		if info.Size == 0 {
			action = jobs.DryRunEmpty
		} else {
			look, err := h.sink.Lookup(ctx, ds, refOf(info))
			if err != nil {
				return fmt.Errorf("ledger of dataset %s: %w", ds, err)
			}
			switch {
			case look.Loaded:
				action = jobs.DryRunLoaded
			case len(look.Earlier) > 0 && settings.Modified == sink.ModifiedSkip:
				action = jobs.DryRunModifiedSkip
			case len(look.Earlier) > 0 && settings.Modified == sink.ModifiedAppend:
				action = jobs.DryRunAppend
			case len(look.Earlier) > 0:
				action = jobs.DryRunReplace
			}
		}
		res.Counts[action]++
		if action == jobs.DryRunRead || action == jobs.DryRunReplace || action == jobs.DryRunAppend {
			res.Bytes += info.Size
		}
		if len(res.Objects) < jobs.MaxDryRunObjects {
			res.Objects = append(res.Objects, jobs.DryRunObject{Key: info.Key, Size: info.Size, ETag: info.ETag, Action: action})
		} else {
			res.Truncated = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if listed == 0 {
		return nil, &NoMatchError{Bucket: p.Source.Bucket, Prefix: p.Source.Prefix, Glob: p.Source.Glob}
	}
	return res, nil
}
