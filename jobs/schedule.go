package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"

	"github.com/s3ingest/s3ingest/ident"
)

// Schedule re-runs an ingest on a cron schedule. Each run reads only objects
// the dataset's ledger does not have yet (new keys, or new versions / ETags
// of existing keys).
type Schedule struct {
	// ID names the schedule within its workspace.
	ID string `json:"id"`
	// Cron is a standard 5-field cron spec ("*/15 * * * *") or a descriptor
	// such as "@hourly" or "@every 30m".
	Cron string `json:"cron"`
	// Ingest is the payload each run enqueues (ScheduleID is filled in).
	Ingest IngestPayload `json:"ingest"`
	// CreatedAt is when the schedule was stored.
	CreatedAt time.Time `json:"created_at"`
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Validate checks the schedule; errors name the field.
func (s *Schedule) Validate() error {
	if err := identErr("id", ident.ScheduleID(s.ID)); err != nil {
		return err
	}
	if _, err := cronParser.Parse(s.Cron); err != nil {
		return fieldErr("cron", fmt.Sprintf("%q: %v", s.Cron, err))
	}
	return s.Ingest.Validate()
}

// key is the schedule's field in the schedules hash: workspace/id.
func (s *Schedule) key() string { return s.Ingest.WorkspaceID + "/" + s.ID }

// ScheduleUniqueTTL is the uniqueness lock of scheduled runs. While a run of
// a schedule is pending, running or retrying, the next tick enqueues nothing:
// runs never overlap (and several schedule managers on one Redis enqueue
// each run once). asynq releases the lock when a run completes; a run that
// fails for good keeps it until the TTL ends or the archived task is deleted
// or re-run from the dashboard. It equals IngestTimeout, the longest a run
// can be active.
const ScheduleUniqueTTL = IngestTimeout

// Schedules stores schedules in Redis and serves them to asynq's
// PeriodicTaskManager (it implements asynq.PeriodicTaskConfigProvider).
type Schedules struct {
	rdb redis.UniversalClient
	key string
}

// NewSchedules returns the schedule store on rdb.
func NewSchedules(rdb redis.UniversalClient) *Schedules {
	return &Schedules{rdb: rdb, key: "s3ingest:schedules"}
}

// ErrScheduleNotFound is returned for an unknown schedule.
var ErrScheduleNotFound = errors.New("schedule not found")

// Put validates and stores (or replaces) a schedule.
func (s *Schedules) Put(ctx context.Context, sc Schedule) error {
	sc.Ingest.ScheduleID = sc.ID
	if err := sc.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	if sc.CreatedAt.IsZero() {
		sc.CreatedAt = time.Now().UTC()
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, s.key, sc.key(), b).Err(); err != nil {
		return fmt.Errorf("store schedule %s: %w", sc.key(), err)
	}
	return nil
}

// Remove deletes a workspace's schedule.
func (s *Schedules) Remove(ctx context.Context, workspaceID, id string) error {
	n, err := s.rdb.HDel(ctx, s.key, workspaceID+"/"+id).Result()
	if err != nil {
		return fmt.Errorf("remove schedule %s/%s: %w", workspaceID, id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s/%s", ErrScheduleNotFound, workspaceID, id)
	}
	return nil
}

// List returns the schedules of a workspace ("" for all), sorted by ID.
func (s *Schedules) List(ctx context.Context, workspaceID string) ([]Schedule, error) {
	m, err := s.rdb.HGetAll(ctx, s.key).Result()
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	out := make([]Schedule, 0, len(m))
	for k, v := range m {
		var sc Schedule
		if err := json.Unmarshal([]byte(v), &sc); err != nil {
			return nil, fmt.Errorf("schedule %s: %w", k, err)
		}
		if workspaceID == "" || sc.Ingest.WorkspaceID == workspaceID {
			out = append(out, sc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out, nil
}

// GetConfigs implements asynq.PeriodicTaskConfigProvider. A stored schedule
// that no longer validates is left out rather than failing every schedule.
func (s *Schedules) GetConfigs() ([]*asynq.PeriodicTaskConfig, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := s.List(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]*asynq.PeriodicTaskConfig, 0, len(all))
	for _, sc := range all {
		t, err := NewIngestTask(sc.Ingest, asynq.Unique(ScheduleUniqueTTL))
		if err != nil {
			continue
		}
		out = append(out, &asynq.PeriodicTaskConfig{Cronspec: sc.Cron, Task: t})
	}
	return out, nil
}
