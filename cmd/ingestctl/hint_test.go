package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// TestCLIHint maps the library's errors, wrapped as the library and the
// commands wrap them, to the command the operator should run.
func TestCLIHint(t *testing.T) {
	ws1 := func(cmd string) hintScope { return hintScope{Command: cmd, Workspace: "ws1"} }
	wrap := func(sentinel error) error { return fmt.Errorf("workspace ws1: %w: detail", sentinel) }
	assume := func(cause credstore.AssumeRoleCause) error {
		return fmt.Errorf("sts:AssumeRole with the new External ID failed: %w",
			&credstore.AssumeRoleError{WorkspaceID: "ws-role", RoleARN: "arn:aws:iam::123456789012:role/r", Cause: cause})
	}
	taskFailed := func(lastErr string) error {
		return fmt.Errorf("task t1: %w", fmt.Errorf("%w: %s", jobs.ErrTaskFailed, lastErr))
	}
	for _, tc := range []struct {
		name  string
		err   error
		scope hintScope
		want  []string // substrings of the hint; none: no hint
	}{
		{"no credentials", wrap(credstore.ErrNoCredentials), ws1("ingest"),
			[]string{"`ingestctl integration create --workspace ws1 --role-arn ARN`", "`ingestctl credential add --workspace ws1 "}},
		{"pending integration", wrap(credstore.ErrIntegrationPending), ws1("preview"),
			[]string{"`ingestctl integration set-role --workspace ws1 --role-arn ARN`"}},
		{"removed integration", wrap(credstore.ErrIntegrationRemoved), ws1("ingest"),
			[]string{"`ingestctl integration create --workspace ws1 --role-arn ARN`"}},
		{"rotation in progress", wrap(credstore.ErrRotationInProgress), ws1("integration rotate"),
			[]string{"`ingestctl integration rotate --finish --workspace ws1", "`ingestctl integration rotate --cancel --workspace ws1`"}},
		{"no rotation", wrap(credstore.ErrNoRotation), ws1("integration rotate"),
			[]string{"`ingestctl integration rotate --workspace ws1`"}},
		{"credential not found", fmt.Errorf("credential cred_x %w in workspace ws1", credstore.ErrNotFound), ws1("credential remove"),
			[]string{"`ingestctl credential list --workspace ws1`"}},
		{"integration not found", fmt.Errorf("workspace ws1 has no AWS integration: %w", credstore.ErrNotFound), ws1("integration show"),
			[]string{"`ingestctl integration create --workspace ws1`"}},
		{"integration not found for a policy", fmt.Errorf("workspace ws1 has no AWS integration: %w", credstore.ErrNotFound), ws1("policy"),
			[]string{"`ingestctl integration create --workspace ws1`"}},
		{"not found elsewhere", fmt.Errorf("x: %w", credstore.ErrNotFound), ws1("ingest"), nil},
		{"credential name taken", fmt.Errorf("credential named \"a\" in workspace ws1: %w", credstore.ErrExists), ws1("credential add"),
			[]string{"`ingestctl credential list --workspace ws1`", "`ingestctl credential remove --workspace ws1 --name NAME`"}},
		{"integration exists", fmt.Errorf("workspace ws1 already has an AWS integration: %w", credstore.ErrExists), ws1("integration create"),
			[]string{"`ingestctl integration show --workspace ws1`", "`ingestctl integration remove --workspace ws1`"}},
		{"corrupt credential", fmt.Errorf("credential \"c\": %w: missing fields", credstore.ErrCorruptRecord), ws1("credential list"),
			[]string{"`ingestctl credential remove --workspace ws1 --id ID`"}},
		{"corrupt integration", fmt.Errorf("integration of workspace ws1: %w: missing", credstore.ErrCorruptRecord), ws1("integration show"),
			[]string{"`ingestctl integration remove --workspace ws1`", "`ingestctl integration create --workspace ws1`"}},
		{"secret key missing", credstore.ErrSecretKeyMissing, ws1("credential add"),
			[]string{"`ingestctl secret-key`", credstore.SecretKeyEnv}},
		{"schedule not found", fmt.Errorf("%w: ws1/nightly", jobs.ErrScheduleNotFound), ws1("schedule remove"),
			[]string{"`ingestctl schedule list --workspace ws1`"}},
		{"dataset not found", fmt.Errorf("sink x: %w", sink.ErrDatasetNotFound), ws1("dataset show"),
			[]string{"`ingestctl dataset list --workspace ws1`", "--sink"}},
		{"dataset not found outside dataset commands", sink.ErrDatasetNotFound, ws1("ingest"), nil},

		// AssumeRoleError: the workspace comes from the error.
		{"role not found", assume(credstore.CauseRoleNotFound), ws1("integration rotate"),
			[]string{"`ingestctl integration set-role --workspace ws-role --role-arn ARN`", "`ingestctl integration verify --workspace ws-role --bucket B"}},
		{"invalid request", assume(credstore.CauseInvalidRequest), ws1("integration rotate"),
			[]string{"`ingestctl integration set-role --workspace ws-role"}},
		{"external ID mismatch", assume(credstore.CauseExternalIDMismatch), ws1("integration rotate"),
			[]string{"`ingestctl integration show --workspace ws-role`", "`ingestctl integration verify --workspace ws-role --bucket B"}},
		{"principal not trusted", assume(credstore.CausePrincipalNotTrusted), ws1("integration rotate"),
			[]string{"`ingestctl integration show --workspace ws-role`"}},
		{"access denied", assume(credstore.CauseAccessDenied), ws1("integration rotate"),
			[]string{"`ingestctl integration show --workspace ws-role`", "`ingestctl integration verify --workspace ws-role"}},
		{"throttled", assume(credstore.CauseThrottled), ws1("integration rotate"),
			[]string{"`ingestctl integration verify --workspace ws-role --bucket B [--prefix P]`"}},
		{"platform credentials", assume(credstore.CausePlatformCredentials), ws1("integration rotate"),
			[]string{"`ingestctl integration verify --workspace ws-role"}},

		// Tasks that failed on ingestd: their last error is text.
		{"remote no credentials", taskFailed("resolve credentials: workspace ws1: " + credstore.ErrNoCredentials.Error() + ": the job names no credential instance"),
			ws1("ingest"), []string{"`ingestctl integration create --workspace ws1 --role-arn ARN`"}},
		{"remote pending", taskFailed("resolve credentials: workspace ws1: " + credstore.ErrIntegrationPending.Error()),
			ws1("preview"), []string{"`ingestctl integration set-role --workspace ws1 --role-arn ARN`"}},
		{"remote removed", taskFailed("list: workspace ws1: " + credstore.ErrIntegrationRemoved.Error()),
			ws1("ingest"), []string{"`ingestctl integration create --workspace ws1"}},
		{"remote secret key", taskFailed("resolve credentials: " + credstore.ErrSecretKeyMissing.Error()),
			ws1("ingest"), []string{"`ingestctl secret-key`"}},
		{"remote other", taskFailed("parse a.csv: line 3: bad quote"), ws1("ingest"), nil},
		{"sentinel text without a failed task", errors.New(credstore.ErrNoCredentials.Error()), ws1("ingest"), nil},

		// No workspace on the command line: a placeholder.
		{"no workspace flag", wrap(credstore.ErrIntegrationPending), hintScope{Command: "ingest"},
			[]string{"`ingestctl integration set-role --workspace W --role-arn ARN`"}},

		{"unknown", errors.New("connection refused"), ws1("ingest"), nil},
		{"nil", nil, ws1("ingest"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cliHint(tc.err, tc.scope)
			if len(tc.want) == 0 {
				if got != "" {
					t.Fatalf("hint %q, want none", got)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Fatalf("hint %q lacks %q", got, w)
				}
			}
		})
	}
}

// TestCLIErrorHint runs command lines the way main does: a failure prints
// the error, then the command that fixes it, and exits 1.
func TestCLIErrorHint(t *testing.T) {
	c := newCLI(t)
	run := func(args ...string) (int, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		a := newApp(&out, &errOut)
		defer a.close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return a.execute(ctx, append([]string{"--redis-url", c.url}, args...)), errOut.String()
	}
	c.ok("", "integration", "create", "--workspace", "ws-rot", "--role-arn", "arn:aws:iam::123456789012:role/r")
	c.ok("", "integration", "create", "--workspace", "ws-rotating", "--role-arn", "arn:aws:iam::123456789012:role/r")
	c.ok("", "integration", "rotate", "--workspace", "ws-rotating")
	for _, tc := range []struct {
		args      []string
		err, hint string
	}{
		{[]string{"integration", "show", "--workspace", "nobody"},
			"workspace nobody has no AWS integration", "  fix: create the integration with `ingestctl integration create --workspace nobody`\n"},
		{[]string{"credential", "remove", "--workspace", "ws1", "--id", "cred_missing"},
			"credential cred_missing not found", "  fix: list the workspace's credentials with `ingestctl credential list --workspace ws1`\n"},
		{[]string{"integration", "rotate", "--finish", "--workspace", "ws-rot"},
			"no External ID rotation in progress", "  fix: start one with `ingestctl integration rotate --workspace ws-rot`\n"},
		{[]string{"integration", "rotate", "--workspace", "ws-rotating"},
			"already in progress", "`ingestctl integration rotate --cancel --workspace ws-rotating`"},
	} {
		code, stderr := run(tc.args...)
		lines := strings.SplitN(stderr, "\n", 2)
		if code != 1 || !strings.HasPrefix(lines[0], "ingestctl: ") || !strings.Contains(lines[0], tc.err) ||
			len(lines) < 2 || !strings.HasPrefix(lines[1], "  fix: ") || !strings.Contains(lines[1], tc.hint) {
			t.Errorf("ingestctl %s: exit %d, stderr:\n%s\nwant the error %q, then the hint %q", strings.Join(tc.args, " "), code, stderr, tc.err, tc.hint)
		}
	}

	// An error no command fixes: no hint line. Success: exit 0, no stderr.
	if code, stderr := run("credential", "list"); code != 1 || stderr != "ingestctl: --workspace is required\n" {
		t.Errorf("credential list without --workspace: exit %d, stderr %q", code, stderr)
	}
	if code, stderr := run("integration", "show", "--workspace", "ws-rot"); code != 0 || stderr != "" {
		t.Errorf("integration show: exit %d, stderr %q", code, stderr)
	}
}
