package daemon

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// queueScrapeTimeout bounds how long a scrape of /metrics waits for the
// queue sizes in Redis; a slower Redis leaves them out of that scrape.
const queueScrapeTimeout = 2 * time.Second

// queueCollector exports s3ingest_queue_tasks{queue,state}: the tasks of
// every asynq queue in the daemon's Redis by state, read at scrape time.
// Errors are logged (at most once a minute) and leave the gauges out of the
// scrape; a scrape never waits longer than timeout, and a slow read still
// running is not started again.
type queueCollector struct {
	insp    *asynq.Inspector
	log     *zap.Logger
	timeout time.Duration
	desc    *prometheus.Desc

	busy atomic.Bool // a read of Redis is running

	mu        sync.Mutex
	lastError time.Time // when an error was last logged
}

func newQueueCollector(insp *asynq.Inspector, log *zap.Logger, timeout time.Duration) *queueCollector {
	return &queueCollector{insp: insp, log: log, timeout: timeout,
		desc: prometheus.NewDesc("s3ingest_queue_tasks",
			"Tasks in each queue of the daemon's Redis by state (pending, active, scheduled, retry, archived), read at scrape time.",
			[]string{"queue", "state"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.busy.CompareAndSwap(false, true) {
		c.logError(errors.New("the previous read of the queues is still running"))
		return
	}
	type result struct {
		infos []*asynq.QueueInfo
		err   error
	}
	done := make(chan result, 1)
	go func() {
		defer c.busy.Store(false)
		infos, err := c.read()
		done <- result{infos, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(c.timeout):
		c.logError(fmt.Errorf("no answer from Redis within %s", c.timeout))
		return
	}
	if res.err != nil {
		c.logError(res.err)
	}
	for _, qi := range res.infos {
		for _, s := range []struct {
			state string
			n     int
		}{{"pending", qi.Pending}, {"active", qi.Active}, {"scheduled", qi.Scheduled}, {"retry", qi.Retry}, {"archived", qi.Archived}} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(s.n), qi.Queue, s.state)
		}
	}
}

// read returns the state of every queue it could read, and the first error.
func (c *queueCollector) read() ([]*asynq.QueueInfo, error) {
	queues, err := c.insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	var infos []*asynq.QueueInfo
	var first error
	for _, q := range queues {
		qi, err := c.insp.GetQueueInfo(q)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("queue %s: %w", q, err)
			}
			continue
		}
		infos = append(infos, qi)
	}
	return infos, first
}

// logError logs err unless an error was logged less than a minute ago.
func (c *queueCollector) logError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.lastError) >= time.Minute {
		c.lastError = now
		c.log.Warn("ingestd: metrics: cannot read the queues' sizes", zap.Error(err))
	}
}
