package worker

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the worker's Prometheus collectors.
type Metrics struct {
	tasks       *prometheus.CounterVec
	taskSeconds *prometheus.HistogramVec
	objects     *prometheus.CounterVec
	rows        prometheus.Counter
	bytes       prometheus.Counter
	rejected    prometheus.Counter

	activeObjects prometheus.Gauge
	inflightBytes prometheus.Gauge
	fetchChoices  *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "s3ingest", Name: "tasks_total",
			Help: "Tasks handled, by type and outcome (ok, retry, failed).",
		}, []string{"type", "outcome"}),
		taskSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "s3ingest", Name: "task_duration_seconds",
			Help:    "Task run time by type.",
			Buckets: prometheus.ExponentialBuckets(0.05, 3, 12),
		}, []string{"type"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "s3ingest", Name: "objects_total",
			Help: "Objects by result: committed (rows added to the dataset), duplicate (committed meanwhile by a concurrent run: this copy was discarded), skipped (already in the ledger, or modified and kept), empty, failed.",
		}, []string{"result"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "s3ingest", Name: "rows_total", Help: "Rows added to datasets (a discarded duplicate commit adds none).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "s3ingest", Name: "object_bytes_total", Help: "Object bytes of the objects committed to datasets.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "s3ingest", Name: "rejected_rows_total", Help: "Rows rejected within error budgets.",
		}),
		activeObjects: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "s3ingest", Name: "active_objects", Help: "Objects being ingested by this process right now.",
		}),
		inflightBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "s3ingest", Name: "inflight_bytes", Help: "Sizes of the objects being ingested by this process right now, in bytes.",
		}),
		fetchChoices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "s3ingest", Name: "fetch_choices_total",
			Help: "Long object reads from S3-compatible endpoints by how the adaptive fetch chose to read their rest: parts (one GET kept the parser waiting) or get (one GET kept ahead, or ranges were slower).",
		}, []string{"way"}),
	}
	if reg != nil {
		reg.MustRegister(m.tasks, m.taskSeconds, m.objects, m.rows, m.bytes, m.rejected, m.activeObjects, m.inflightBytes, m.fetchChoices)
	}
	return m
}
