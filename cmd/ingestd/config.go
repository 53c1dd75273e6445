package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/source"
)

// config is ingestd's configuration, read from S3INGEST_* environment
// variables (flags override a few). Every zero value is a documented default;
// the README's configuration table lists them all.
type config struct {
	RedisURL          string // S3INGEST_REDIS_URL, default redis://127.0.0.1:6379/0
	Sink              string // S3INGEST_SINK, default file://./data
	Concurrency       int    // S3INGEST_CONCURRENCY: tasks at once, default 8
	ObjectConcurrency int    // S3INGEST_OBJECT_CONCURRENCY: objects at once per ingest, default 4
	Queues            map[string]int
	ShutdownTimeout   time.Duration    // S3INGEST_SHUTDOWN_TIMEOUT, default 30s
	PollInterval      time.Duration    // S3INGEST_POLL_INTERVAL, default 250ms (worker.DefaultPollInterval)
	AdminAddr         string           // S3INGEST_ADMIN_ADDR, default 127.0.0.1:9090; "off" disables
	MonitorReadOnly   bool             // S3INGEST_MONITOR_READONLY, default true
	AdminToken        string           // S3INGEST_ADMIN_TOKEN: required by /metrics and /monitor/ when set; default none
	AdminNoAuth       bool             // S3INGEST_ADMIN_ALLOW_UNAUTHENTICATED: allow a non-loopback admin address without a token, default false
	Scheduler         bool             // S3INGEST_SCHEDULER: run the schedule manager here, default true
	S3Endpoint        string           // S3INGEST_S3_ENDPOINT: S3-compatible endpoint for integrations, default AWS
	S3Region          string           // S3INGEST_S3_REGION: region with S3INGEST_S3_ENDPOINT, default us-east-1
	STSEndpoint       string           // S3INGEST_STS_ENDPOINT: STS endpoint override, default AWS
	AssumeRoleTTL     time.Duration    // S3INGEST_ASSUME_ROLE_DURATION, default 1h
	NegativeCacheTTL  time.Duration    // S3INGEST_ASSUME_ROLE_NEGATIVE_TTL, default 30s
	PreviewHeadBytes  int              // S3INGEST_PREVIEW_HEAD_BYTES, default 4 MiB
	MaxObjects        int              // S3INGEST_MAX_OBJECTS: objects read at once by the whole process, default 16
	FetchPartSize     int64            // S3INGEST_FETCH_PART_SIZE: bytes per ranged GET of a long read (e.g. 8MiB), default 4 MiB
	FetchConcurrency  int              // S3INGEST_FETCH_CONCURRENCY: ranged GETs of one object at once, default 8 (1: one GET per object)
	FetchMode         source.FetchMode // S3INGEST_FETCH_MODE: adaptive (default: AWS S3 in parts; from a custom endpoint a read of ≥ 4 rounds of parts tries one GET against parts, keeps the one the parser waits for less) or parts
	AllowPrivate      bool             // S3INGEST_ALLOW_PRIVATE_ENDPOINTS: credential endpoints may be internal addresses, default false
	LogLevel          string           // S3INGEST_LOG_LEVEL: debug, info, warn, error; default info
	LogFormat         string           // S3INGEST_LOG_FORMAT: json or console; default json
}

// loadConfig reads the environment through getenv. Errors name the
// variable and say what is expected.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		RedisURL:        "redis://127.0.0.1:6379/0",
		Sink:            "file://./data",
		AdminAddr:       "127.0.0.1:9090",
		MonitorReadOnly: true,
		Scheduler:       true,
		LogLevel:        "info",
		LogFormat:       "json",
	}
	var errs []string
	str := func(name string, dst *string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}
	num := func(name string, dst *int, min int) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			errs = append(errs, fmt.Sprintf("%s=%q: want an integer >= %d", name, v, min))
			return
		}
		*dst = n
	}
	dur := func(name string, dst *time.Duration) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Sprintf("%s=%q: want a duration such as 30s or 5m", name, v))
			return
		}
		*dst = d
	}
	boolean := func(name string, dst *bool) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q: want true or false", name, v))
			return
		}
		*dst = b
	}
	str("S3INGEST_REDIS_URL", &c.RedisURL)
	str("S3INGEST_SINK", &c.Sink)
	num("S3INGEST_CONCURRENCY", &c.Concurrency, 0)
	num("S3INGEST_OBJECT_CONCURRENCY", &c.ObjectConcurrency, 0)
	dur("S3INGEST_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	dur("S3INGEST_POLL_INTERVAL", &c.PollInterval)
	if c.PollInterval > 0 && c.PollInterval < worker.MinPollInterval {
		errs = append(errs, fmt.Sprintf("S3INGEST_POLL_INTERVAL=%s: want 0 (the default, %s) or at least %s", c.PollInterval, worker.DefaultPollInterval, worker.MinPollInterval))
	}
	str("S3INGEST_ADMIN_ADDR", &c.AdminAddr)
	boolean("S3INGEST_MONITOR_READONLY", &c.MonitorReadOnly)
	str("S3INGEST_ADMIN_TOKEN", &c.AdminToken)
	boolean("S3INGEST_ADMIN_ALLOW_UNAUTHENTICATED", &c.AdminNoAuth)
	boolean("S3INGEST_SCHEDULER", &c.Scheduler)
	str("S3INGEST_S3_ENDPOINT", &c.S3Endpoint)
	str("S3INGEST_S3_REGION", &c.S3Region)
	str("S3INGEST_STS_ENDPOINT", &c.STSEndpoint)
	dur("S3INGEST_ASSUME_ROLE_DURATION", &c.AssumeRoleTTL)
	dur("S3INGEST_ASSUME_ROLE_NEGATIVE_TTL", &c.NegativeCacheTTL)
	num("S3INGEST_PREVIEW_HEAD_BYTES", &c.PreviewHeadBytes, 0)
	num("S3INGEST_MAX_OBJECTS", &c.MaxObjects, 0)
	boolean("S3INGEST_ALLOW_PRIVATE_ENDPOINTS", &c.AllowPrivate)
	if v := strings.TrimSpace(getenv("S3INGEST_FETCH_PART_SIZE")); v != "" {
		n, err := parseBytes(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("S3INGEST_FETCH_PART_SIZE=%q: %v", v, err))
		}
		c.FetchPartSize = n
	}
	num("S3INGEST_FETCH_CONCURRENCY", &c.FetchConcurrency, 0)
	if v := getenv("S3INGEST_FETCH_MODE"); v != "" {
		m, err := source.ParseFetchMode(v)
		if err != nil {
			errs = append(errs, "S3INGEST_FETCH_MODE: "+err.Error())
		}
		c.FetchMode = m
	}
	if err := (source.FetchOptions{PartSize: c.FetchPartSize, Concurrency: c.FetchConcurrency, Mode: c.FetchMode}).Validate(); err != nil {
		errs = append(errs, fetchVar(err))
	}
	str("S3INGEST_LOG_LEVEL", &c.LogLevel)
	str("S3INGEST_LOG_FORMAT", &c.LogFormat)
	if v := strings.TrimSpace(getenv("S3INGEST_QUEUES")); v != "" {
		q, err := parseQueues(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("S3INGEST_QUEUES=%q: %v", v, err))
		}
		c.Queues = q
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		errs = append(errs, fmt.Sprintf("S3INGEST_LOG_FORMAT=%q: want json or console", c.LogFormat))
	}
	if c.AssumeRoleTTL != 0 && (c.AssumeRoleTTL < 15*time.Minute || c.AssumeRoleTTL > 12*time.Hour) {
		errs = append(errs, fmt.Sprintf("S3INGEST_ASSUME_ROLE_DURATION=%s: STS accepts 15m to 12h", c.AssumeRoleTTL))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// parseBytes parses a size in bytes: "8388608", "512KiB", "8MiB", "1GiB".
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("want a size in bytes such as 8388608 or 8MiB")
	}
	return n * mult, nil
}

// fetchVar names the variable of a source.FetchOptions error.
func fetchVar(err error) string {
	var fe *source.FetchOptionError
	if !errors.As(err, &fe) {
		return "S3INGEST_FETCH_*: " + err.Error()
	}
	return fe.Rename(func(f string) string {
		switch f {
		case "PartSize":
			return "S3INGEST_FETCH_PART_SIZE"
		case "Concurrency":
			return "S3INGEST_FETCH_CONCURRENCY"
		case "Mode":
			return "S3INGEST_FETCH_MODE"
		}
		return f
	}).Error()
}

// parseQueues parses "interactive=6,ingest=3,scheduled=1".
func parseQueues(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || name == "" || err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not queue=weight with a positive weight", part)
		}
		out[name] = n
	}
	return out, nil
}

// osGetenv is os.Getenv; a variable so tests can pass their own.
var osGetenv = os.Getenv
