package daemon

import (
	"context"
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/s3ingest/s3ingest/internal/buildinfo"
)

// redisWarnings returns what is unsafe in Redis's configuration for a task
// queue: no persistence (a restart loses queued tasks and their results)
// and an eviction policy other than noeviction (memory pressure deletes
// tasks). Facts that cannot be read (a managed Redis that hides CONFIG) are
// not guessed at.
func redisWarnings(ctx context.Context, rdb redis.UniversalClient) []string {
	var out []string
	persistence := infoFields(ctx, rdb, "persistence")
	if persistence["aof_enabled"] == "0" {
		save, err := rdb.ConfigGet(ctx, "save").Result()
		if err == nil && strings.TrimSpace(save["save"]) == "" {
			out = append(out, "Redis has no persistence (appendonly no and no RDB save points): a Redis restart loses queued tasks, "+
				"schedules' state and task results; use appendonly yes (see deploy/redis.conf)")
		}
	}
	if policy, ok := infoFields(ctx, rdb, "memory")["maxmemory_policy"]; ok && policy != "noeviction" {
		out = append(out, "Redis maxmemory-policy is "+policy+": under memory pressure Redis may evict queued tasks and records; set maxmemory-policy noeviction")
	}
	return out
}

// infoFields returns the key:value lines of one INFO section (empty when
// INFO fails).
func infoFields(ctx context.Context, rdb redis.UniversalClient, section string) map[string]string {
	out := map[string]string{}
	s, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return out
	}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}

// registerBuildInfo exports s3ingest_build_info{version,revision,goversion} 1.
// A registry that already has it (a second daemon on one registry) keeps it.
func registerBuildInfo(reg prometheus.Registerer) error {
	in := buildinfo.Read()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "s3ingest_build_info",
		Help: "The running binary: module version, VCS revision and Go version (always 1)."},
		[]string{"version", "revision", "goversion"})
	g.WithLabelValues(in.Version, in.Revision, in.GoVersion).Set(1)
	err := reg.Register(g)
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		return nil
	}
	return err
}
