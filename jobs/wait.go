package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// WaitOptions tune WaitFor. The zero value is the documented defaults.
type WaitOptions struct {
	// Poll is how often the task's state is read (default 200ms).
	Poll time.Duration
	// RedisGrace is how long WaitFor rides out Redis being unreachable (a
	// restart, a failover) before giving up (default 30s; negative: give
	// up at the first error). Reads are retried with backoff meanwhile.
	RedisGrace time.Duration
	// OnUpdate, if set, is called with each state read (e.g. to show the
	// progress an ingest writes to its result).
	OnUpdate func(*asynq.TaskInfo)
}

// DefaultRedisGrace is WaitOptions.RedisGrace's default.
const DefaultRedisGrace = 30 * time.Second

// WaitError is returned by WaitFor when it stops waiting while the task
// may still be running: its context ended (a --timeout) or Redis stayed
// unreachable past RedisGrace. The task itself goes on.
type WaitError struct {
	// TaskID and Queue identify the task, to look it up again later.
	TaskID, Queue string
	// State is the last state read ("" if none was read).
	State string
	// Err is the cause: the context's error or the last Redis error.
	Err error
	// Redis reports that the cause is Redis being unreachable.
	Redis bool
}

// Error says why waiting stopped and that the task keeps running.
func (e *WaitError) Error() string {
	state := e.State
	if state == "" {
		state = "unknown"
	}
	why := "stopped waiting"
	if e.Redis {
		why = "lost Redis while waiting"
	}
	return fmt.Sprintf("%s for task %s in queue %s (last state %s): %v; the task keeps running in ingestd: look it up again later by its ID",
		why, e.TaskID, e.Queue, state, e.Err)
}

// Unwrap returns the cause.
func (e *WaitError) Unwrap() error { return e.Err }

// WaitFor polls until the task completes or is archived, or ctx ends. It
// returns the final TaskInfo; for an archived task it also returns an
// error wrapping ErrTaskFailed with the task's last error. A retrying task
// keeps WaitFor waiting. Redis errors are retried with backoff for
// RedisGrace; a task or queue that does not exist fails at once. When it
// stops early the error is a *WaitError (the task goes on).
func (c *Client) WaitFor(ctx context.Context, queue, id string, o WaitOptions) (*asynq.TaskInfo, error) {
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.RedisGrace == 0 {
		o.RedisGrace = DefaultRedisGrace
	}
	var (
		last      *asynq.TaskInfo
		failingAt time.Time // start of the current run of Redis errors
		backoff   = o.Poll
	)
	stop := func(err error, redis bool) (*asynq.TaskInfo, error) {
		we := &WaitError{TaskID: id, Queue: queue, Err: err, Redis: redis}
		if last != nil {
			we.State = last.State.String()
		}
		return last, we
	}
	for {
		delay := o.Poll
		info, err := c.i.GetTaskInfo(queue, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			return last, fmt.Errorf("wait for task %s: %w", id, err)
		case err != nil:
			if failingAt.IsZero() {
				failingAt = time.Now()
			}
			if o.RedisGrace < 0 || time.Since(failingAt) >= o.RedisGrace {
				return stop(err, true)
			}
			backoff = min(backoff*2, 2*time.Second)
			delay = backoff
		default:
			failingAt, backoff, last = time.Time{}, o.Poll, info
			if o.OnUpdate != nil {
				o.OnUpdate(info)
			}
			switch info.State {
			case asynq.TaskStateCompleted:
				return info, nil
			case asynq.TaskStateArchived:
				return info, fmt.Errorf("%w: %s", ErrTaskFailed, info.LastErr)
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return stop(ctx.Err(), false)
		case <-t.C:
		}
	}
}
