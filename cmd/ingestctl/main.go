// Command ingestctl is s3ingest's operator CLI: credentials, AWS
// integrations and policies, previews (remote or of a local file), ingests,
// schedules, task status and datasets' records.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/internal/buildinfo"
)

func main() {
	redis.SetLogger(quietRedisLog{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := newApp(os.Stdout, os.Stderr)
	code := a.execute(ctx, os.Args[1:])
	a.close()
	stop()
	os.Exit(code)
}

// execute runs one command line and returns the exit status. It is where
// ingestctl prints errors: the error, then the command that fixes it when
// one is known (see cliHint).
func (a *app) execute(ctx context.Context, args []string) int {
	root := newRootCmd(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(a.stderr, "ingestctl:", err)
	if hint := cliHint(err, scopeOf(root, cmd)); hint != "" {
		fmt.Fprintln(a.stderr, "  fix:", hint)
	}
	return 1
}

// scopeOf describes the command that failed for cliHint.
func scopeOf(root, cmd *cobra.Command) hintScope {
	var sc hintScope
	if cmd == nil {
		return sc
	}
	sc.Command = strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), root.Name()), " ")
	if f := cmd.Flags().Lookup("workspace"); f != nil {
		sc.Workspace = f.Value.String()
	}
	return sc
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "ingestctl",
		Short:         "operate s3ingest: credentials, integrations, previews, ingests, schedules, datasets",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Read().String(),
	}
	// The default is resolved when Redis is first used, so --help never
	// prints a password from the environment.
	root.PersistentFlags().StringVar(&a.redisURL, "redis-url", "", "Redis URL (default $S3INGEST_REDIS_URL, else "+defaultRedisURL+")")
	root.PersistentFlags().BoolVar(&a.asJSON, "json", false, "print machine-readable JSON")
	if a.stdin != nil {
		root.SetIn(a.stdin)
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.AddCommand(
		newCredentialCmd(a),
		newIntegrationCmd(a),
		newPolicyCmd(a),
		newPreviewCmd(a),
		newIngestCmd(a),
		newScheduleCmd(a),
		newTaskCmd(a),
		newDatasetCmd(a),
		newSecretKeyCmd(a),
	)
	return root
}
