package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/s3ingest/s3ingest/jobs"
)

// waitFlags control --wait.
type waitFlags struct {
	wait       bool
	timeout    time.Duration
	redisGrace time.Duration
}

func (w *waitFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&w.wait, "wait", false, "wait for the task to finish and print its result")
	cmd.Flags().DurationVar(&w.timeout, "timeout", time.Hour, "how long --wait waits (the task itself goes on)")
	cmd.Flags().DurationVar(&w.redisGrace, "redis-grace", jobs.DefaultRedisGrace, "how long --wait rides out Redis being unreachable (a restart, a failover)")
}

// defaultProgressEvery is how often progress lines are printed when
// stderr is not a terminal.
const defaultProgressEvery = 5 * time.Second

// waitTask waits for the task per w, calling onUpdate (if not nil) with
// each state read. Its error is jobs.Client.WaitFor's: a *jobs.WaitError
// when it stopped early while the task goes on.
func (a *app) waitTask(ctx context.Context, c *jobs.Client, info *asynq.TaskInfo, w waitFlags, onUpdate func(*asynq.TaskInfo)) (*asynq.TaskInfo, error) {
	wctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	grace := w.redisGrace
	if grace == 0 {
		grace = -1 // --redis-grace 0: give up at the first Redis error
	}
	return c.WaitFor(wctx, info.Queue, info.ID, jobs.WaitOptions{RedisGrace: grace, OnUpdate: onUpdate})
}

// taskProgress shows a task's progress while --wait waits.
type taskProgress interface {
	// update is called with each state read.
	update(*asynq.TaskInfo)
	// finish ends the display (clears a bar) once waiting is over.
	finish()
}

// ingestProgress returns the progress display for an ingest waited for
// with w: a bar on a terminal, lines every few seconds elsewhere; nil when
// not waiting.
func (a *app) ingestProgress(w waitFlags) taskProgress {
	if !w.wait {
		return nil
	}
	every := a.progressEvery
	if every <= 0 {
		every = defaultProgressEvery
	}
	if a.isTerminal(a.stderr) {
		return &barProgress{w: a.stderr}
	}
	return &lineProgress{w: a.stderr, every: every, now: time.Now}
}

// isTerminal reports whether w is a terminal (tests replace it through
// app.terminal).
func (a *app) isTerminal(w io.Writer) bool {
	if a.terminal != nil {
		return a.terminal(w)
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ingestSnapshot is the progress an ingest writes to its result while it
// runs: jobs.IngestResult, and the fields a newer ingestd may add (objects
// and bytes in all, ETA), read when present.
type ingestSnapshot struct {
	jobs.IngestResult
	// ObjectsTotal and BytesTotal are what the run will read in all (0:
	// not known).
	ObjectsTotal, BytesTotal int64
	// ETA is ingestd's estimate of the time left (0: none).
	ETA time.Duration
	// BytesPerSec is ingestd's read rate (0: computed from Bytes and
	// Duration).
	BytesPerSec float64
}

// decodeSnapshot reads a progress result; ok is false when there is none
// (or it is not an ingest's).
func decodeSnapshot(b []byte) (s ingestSnapshot, ok bool) {
	if len(b) == 0 || json.Unmarshal(b, &s.IngestResult) != nil {
		return s, false
	}
	var extra map[string]json.RawMessage
	if json.Unmarshal(b, &extra) != nil {
		return s, true
	}
	num := func(names ...string) float64 {
		for _, n := range names {
			if raw, ok := extra[n]; ok {
				if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
					return f
				}
			}
		}
		return 0
	}
	s.ObjectsTotal = int64(num("objects_total", "total_objects"))
	s.BytesTotal = int64(num("bytes_total", "total_bytes"))
	s.BytesPerSec = num("bytes_per_sec", "bytes_per_second", "rate_bytes")
	if raw, ok := extra["eta"]; ok {
		var str string
		if json.Unmarshal(raw, &str) == nil {
			if d, err := time.ParseDuration(str); err == nil {
				s.ETA = d
			}
		} else if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
			s.ETA = time.Duration(f * float64(time.Second))
		}
	} else if f := num("eta_seconds"); f > 0 {
		s.ETA = time.Duration(f * float64(time.Second))
	}
	if s.BytesPerSec == 0 && s.Duration > 0 {
		s.BytesPerSec = float64(s.Bytes) / time.Duration(s.Duration).Seconds()
	}
	if s.ETA == 0 && s.BytesTotal > s.Bytes && s.BytesPerSec > 0 {
		s.ETA = time.Duration(float64(s.BytesTotal-s.Bytes) / s.BytesPerSec * float64(time.Second))
	}
	return s, true
}

// objectsText renders "3 of 10 objects" (or "3 objects").
func (s ingestSnapshot) objectsText() string {
	if s.ObjectsTotal > 0 {
		return fmt.Sprintf("%d of %d objects", s.Objects, s.ObjectsTotal)
	}
	return plural(int(s.Objects), "object", "objects")
}

// line renders the progress on one line.
func (s ingestSnapshot) line() string {
	out := fmt.Sprintf("%s done, %d rows, %s read", s.objectsText(), s.Rows, formatBytes(s.Bytes))
	if s.BytesTotal > 0 {
		out += " of " + formatBytes(s.BytesTotal)
	}
	if s.BytesPerSec > 0 {
		out += " (" + formatBytes(int64(s.BytesPerSec)) + "/s)"
	}
	if s.Skipped > 0 {
		out += fmt.Sprintf(", %d skipped", s.Skipped)
	}
	if s.Failed > 0 {
		out += fmt.Sprintf(", %d failed", s.Failed)
	}
	if s.Rejected > 0 {
		out += fmt.Sprintf(", %d rows rejected", s.Rejected)
	}
	if s.ETA > 0 {
		out += ", about " + s.ETA.Round(time.Second).String() + " left"
	}
	return out
}

// formatBytes renders n bytes in binary units ("4.2 MiB").
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// stateText says what a task's state means while waiting for it.
func stateText(info *asynq.TaskInfo) string {
	switch info.State {
	case asynq.TaskStatePending:
		return "pending: waiting for a worker"
	case asynq.TaskStateScheduled:
		return "scheduled"
	case asynq.TaskStateRetry:
		return fmt.Sprintf("failed, will be retried (try %d of %d): %s", info.Retried+1, info.MaxRetry+1, shorten(info.LastErr, 120))
	case asynq.TaskStateActive:
		return "running"
	}
	return info.State.String()
}

// lineProgress prints a progress line when the state changes and every
// `every` while it does not.
type lineProgress struct {
	w     io.Writer
	every time.Duration
	now   func() time.Time

	last      time.Time
	lastState asynq.TaskState
	printed   bool
}

func (p *lineProgress) update(info *asynq.TaskInfo) {
	if info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived {
		return // the result follows
	}
	now := p.now()
	if p.printed && info.State == p.lastState && now.Sub(p.last) < p.every {
		return
	}
	p.last, p.lastState, p.printed = now, info.State, true
	text := stateText(info)
	if info.State == asynq.TaskStateActive {
		if s, ok := decodeSnapshot(info.Result); ok {
			text += ": " + s.line()
		}
	}
	fmt.Fprintf(p.w, "task %s: %s\n", info.ID, text)
}

func (p *lineProgress) finish() {}

// barProgress draws a progress bar on a terminal: of bytes when the total
// is known, else a spinner with the bytes read; the description carries
// objects and rows.
type barProgress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	total int64
}

func (p *barProgress) update(info *asynq.TaskInfo) {
	s, ok := decodeSnapshot(info.Result)
	if info.State != asynq.TaskStateActive || !ok {
		if p.bar == nil {
			p.ensure(-1)
		}
		p.bar.Describe(stateText(info))
		return
	}
	total := int64(-1)
	if s.BytesTotal > 0 {
		total = s.BytesTotal
	}
	p.ensure(total)
	desc := fmt.Sprintf("%s, %d rows", s.objectsText(), s.Rows)
	if s.Failed > 0 {
		desc += fmt.Sprintf(", %d failed", s.Failed)
	}
	p.bar.Describe(desc)
	_ = p.bar.Set64(s.Bytes)
}

// ensure makes a bar for total bytes (-1: unknown).
func (p *barProgress) ensure(total int64) {
	if p.bar != nil && (p.total == total || total < 0) {
		return
	}
	if p.bar != nil {
		p.bar.ChangeMax64(total)
		p.total = total
		return
	}
	p.total = total
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSpinnerType(14),
		// The spinner turns at each update (every poll), not from a
		// goroutine of its own: all output is written by the caller.
		progressbar.OptionSetSpinnerChangeInterval(0),
	)
}

func (p *barProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Clear()
		_ = p.bar.Exit()
		fmt.Fprint(p.w, "\r")
	}
}
