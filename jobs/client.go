package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Client enqueues s3ingest tasks and waits for their results. It shares the
// caller's Redis client; Close does not close it.
type Client struct {
	c *asynq.Client
	i *asynq.Inspector
}

// NewClient returns a Client on rdb.
func NewClient(rdb redis.UniversalClient) *Client {
	return &Client{c: asynq.NewClientFromRedisClient(rdb), i: asynq.NewInspectorFromRedisClient(rdb)}
}

// Enqueue enqueues a task built by NewPreviewTask, NewIngestTask or
// NewVerifyTask.
func (c *Client) Enqueue(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := c.c.EnqueueContext(ctx, t, opts...)
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return info, nil
}

// EnqueuePreview validates p and enqueues a preview.
func (c *Client) EnqueuePreview(ctx context.Context, p PreviewPayload, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	t, err := NewPreviewTask(p, opts...)
	if err != nil {
		return nil, err
	}
	return c.Enqueue(ctx, t)
}

// EnqueueIngest validates p and enqueues an ingest.
func (c *Client) EnqueueIngest(ctx context.Context, p IngestPayload, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	t, err := NewIngestTask(p, opts...)
	if err != nil {
		return nil, err
	}
	return c.Enqueue(ctx, t)
}

// EnqueueDryRun validates p and enqueues a dry run of the ingest.
func (c *Client) EnqueueDryRun(ctx context.Context, p IngestPayload, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	t, err := NewDryRunTask(p, opts...)
	if err != nil {
		return nil, err
	}
	return c.Enqueue(ctx, t)
}

// EnqueueVerify validates p and enqueues a verification.
func (c *Client) EnqueueVerify(ctx context.Context, p VerifyPayload, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	t, err := NewVerifyTask(p, opts...)
	if err != nil {
		return nil, err
	}
	return c.Enqueue(ctx, t)
}

// Task returns the current state of a task.
func (c *Client) Task(queue, id string) (*asynq.TaskInfo, error) {
	return c.i.GetTaskInfo(queue, id)
}

// ErrTaskFailed is returned by Wait when the task was archived (failed for
// good); the error text carries the task's last error.
var ErrTaskFailed = errors.New("task failed")

// Wait is WaitFor with only a poll interval (poll <= 0 means 200ms).
func (c *Client) Wait(ctx context.Context, queue, id string, poll time.Duration) (*asynq.TaskInfo, error) {
	return c.WaitFor(ctx, queue, id, WaitOptions{Poll: poll})
}

// DecodeResult unmarshals a task's result into v (e.g. *IngestResult).
func DecodeResult(info *asynq.TaskInfo, v any) error {
	if len(info.Result) == 0 {
		return fmt.Errorf("task %s has no result (state %s)", info.ID, info.State)
	}
	if err := json.Unmarshal(info.Result, v); err != nil {
		return fmt.Errorf("decode result of task %s: %w", info.ID, err)
	}
	return nil
}
