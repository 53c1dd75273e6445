// Command ingestctl is s3ingest's operator CLI: credentials, AWS
// integrations and policies, previews (remote or of a local file), ingests,
// schedules and task status.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := newApp(os.Stdout, os.Stderr)
	defer a.close()
	if err := newRootCmd(a).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ingestctl:", err)
		os.Exit(1)
	}
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "ingestctl",
		Short:         "operate s3ingest: credentials, integrations, previews, ingests, schedules",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// The default is resolved when Redis is first used, so --help never
	// prints a password from the environment.
	root.PersistentFlags().StringVar(&a.redisURL, "redis-url", "", "Redis URL (default $S3INGEST_REDIS_URL, else "+defaultRedisURL+")")
	root.PersistentFlags().BoolVar(&a.asJSON, "json", false, "print machine-readable JSON")
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
		newSecretKeyCmd(a),
	)
	return root
}
