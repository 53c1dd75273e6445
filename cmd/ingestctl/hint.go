package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// hintScope is what the failed command line knows about an error that the
// error itself may not say: which command ran and the workspace it named.
type hintScope struct {
	// Command is the command path without "ingestctl", e.g.
	// "credential remove" or "integration show".
	Command string
	// Workspace is the command's --workspace ("" when it has none).
	Workspace string
}

// area reports whether the command is name or one of its subcommands.
func (sc hintScope) area(name string) bool {
	return sc.Command == name || strings.HasPrefix(sc.Command, name+" ")
}

// cliHint returns the ingestctl command line(s) that fix err, worded as
// an instruction ("" when no command helps). The library packages say
// what to change without naming CLI commands (their errors are also shown
// to the platform's users); this is the one place that turns their
// sentinels and types into `ingestctl ...` for the operator.
//
// Errors of tasks that ran on ingestd arrive as text (jobs.ErrTaskFailed
// with the task's last error); for those the store's distinctive sentinel
// messages are recognised in the text.
func cliHint(err error, sc hintScope) string {
	if err == nil {
		return ""
	}
	ws := sc.Workspace
	if ws == "" {
		ws = "W"
	}
	verify := "`ingestctl integration verify --workspace " + ws + " --bucket B [--prefix P]`"

	var we *jobs.WaitError
	if errors.As(err, &we) {
		follow := "follow the task with `ingestctl task status " + we.TaskID + " --wait`"
		if we.Redis {
			follow += " once Redis is reachable again (--redis-grace sets how long --wait rides out an outage)"
		}
		return follow
	}

	var cte *credTestError
	if errors.As(err, &cte) {
		return credentialHint(cte)
	}

	var are *credstore.AssumeRoleError
	if errors.As(err, &are) {
		if are.WorkspaceID != "" {
			ws = are.WorkspaceID
			verify = "`ingestctl integration verify --workspace " + ws + " --bucket B [--prefix P]`"
		}
		switch are.Cause {
		case credstore.CauseRoleNotFound, credstore.CauseInvalidRequest:
			return "correct the role ARN with `ingestctl integration set-role --workspace " + ws + " --role-arn ARN`, then check it with " + verify
		case credstore.CauseExternalIDMismatch, credstore.CausePrincipalNotTrusted, credstore.CauseAccessDenied:
			return "`ingestctl integration show --workspace " + ws + "` prints the trust policy the role needs; check the role with " + verify
		}
		return "check the integration step by step with " + verify
	}

	switch {
	case errors.Is(err, credstore.ErrNoCredentials):
		return fmt.Sprintf("create the workspace's AWS integration with `ingestctl integration create --workspace %s --role-arn ARN`, "+
			"or store keys with `ingestctl credential add --workspace %s --name NAME --access-key-id KEY --secret-stdin` and name the credential in the job (--credential)", ws, ws)
	case errors.Is(err, credstore.ErrIntegrationPending):
		return "attach the customer's role with `ingestctl integration set-role --workspace " + ws + " --role-arn ARN`"
	case errors.Is(err, credstore.ErrIntegrationRemoved):
		return "create a new integration with `ingestctl integration create --workspace " + ws + " --role-arn ARN` (it gets a new External ID)"
	case errors.Is(err, credstore.ErrRotationInProgress):
		return fmt.Sprintf("finish it with `ingestctl integration rotate --finish --workspace %s [--bucket B [--prefix P]]` or cancel it with `ingestctl integration rotate --cancel --workspace %s`", ws, ws)
	case errors.Is(err, credstore.ErrNoRotation):
		return "start one with `ingestctl integration rotate --workspace " + ws + "`"
	case errors.Is(err, credstore.ErrSecretKeyMissing):
		return "give every ingestd and ingestctl process the same " + credstore.SecretKeyEnv + "; `ingestctl secret-key` generates one if there is none yet"
	case errors.Is(err, credstore.ErrNotFound) && sc.area("credential"):
		return "list the workspace's credentials with `ingestctl credential list --workspace " + ws + "`"
	case errors.Is(err, credstore.ErrNotFound) && (sc.area("integration") || sc.area("policy")):
		return "create the integration with `ingestctl integration create --workspace " + ws + "`"
	case errors.Is(err, credstore.ErrExists) && sc.area("credential"):
		return fmt.Sprintf("choose another --name; `ingestctl credential list --workspace %s` lists the names in use, `ingestctl credential remove --workspace %s --name NAME` removes one", ws, ws)
	case errors.Is(err, credstore.ErrExists) && sc.area("integration"):
		return fmt.Sprintf("`ingestctl integration show --workspace %s` shows it; to start over with a new External ID, run `ingestctl integration remove --workspace %s` first", ws, ws)
	case errors.Is(err, credstore.ErrCorruptRecord) && sc.area("credential"):
		return "remove it with `ingestctl credential remove --workspace " + ws + " --id ID` and add it again with `ingestctl credential add`"
	case errors.Is(err, credstore.ErrCorruptRecord) && (sc.area("integration") || sc.area("policy")):
		return fmt.Sprintf("remove the integration with `ingestctl integration remove --workspace %s` and create it again with `ingestctl integration create --workspace %s` (the customer must apply the new External ID)", ws, ws)
	case errors.Is(err, sink.ErrDatasetNotFound) && sc.area("dataset"):
		return "list the workspace's datasets with `ingestctl dataset list --workspace " + ws + "`, and check that --sink (or " + envSink + ") names the sink ingestd writes to"
	case errors.Is(err, jobs.ErrScheduleNotFound):
		return "list the workspace's schedules with `ingestctl schedule list --workspace " + ws + "`"
	case errors.Is(err, jobs.ErrTaskFailed):
		if s := remoteSentinel(err); s != nil {
			return cliHint(s, sc)
		}
	}
	return ""
}

// remoteSentinels are the store's sentinels whose message is distinctive
// enough to recognise in the text of a task's last error.
var remoteSentinels = []error{
	credstore.ErrNoCredentials,
	credstore.ErrIntegrationPending,
	credstore.ErrIntegrationRemoved,
	credstore.ErrSecretKeyMissing,
}

// remoteSentinel returns the store sentinel whose message appears in err's
// text, or nil.
func remoteSentinel(err error) error {
	msg := err.Error()
	for _, s := range remoteSentinels {
		if strings.Contains(msg, s.Error()) {
			return s
		}
	}
	return nil
}

// actionCommand returns the ingestctl command of a verification step's
// fix action for the workspace of rep ("" for none).
func actionCommand(a jobs.CheckAction, rep *jobs.VerifyReport) string {
	ws := rep.WorkspaceID
	switch a {
	case jobs.ActionCreateIntegration:
		return "ingestctl integration create --workspace " + ws + " --role-arn ARN"
	case jobs.ActionRecreateIntegration:
		return "ingestctl integration remove --workspace " + ws + ", then ingestctl integration create --workspace " + ws + " --role-arn ARN"
	case jobs.ActionSetRole:
		return "ingestctl integration set-role --workspace " + ws + " --role-arn ARN"
	case jobs.ActionUpdateTrustPolicy:
		return "ingestctl integration show --workspace " + ws + " (prints the trust policy)"
	case jobs.ActionVerifyAgain:
		cmd := "ingestctl integration verify --workspace " + ws + " --bucket " + rep.Bucket
		if rep.Prefix != "" {
			cmd += " --prefix " + rep.Prefix
		}
		return cmd
	}
	return ""
}
