package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/worker/source"
)

// IntegrationVerifier is what verification needs beyond Resolver;
// *credstore.Resolver implements it.
type IntegrationVerifier interface {
	Resolver
	// Config returns the resolver's configuration (its Store is used).
	Config() credstore.ResolverConfig
	// AssumeRoleOnce calls STS once, bypassing caches; an empty externalID
	// omits the ExternalId parameter.
	AssumeRoleOnce(ctx context.Context, integ *credstore.Integration, externalID string) (aws.Credentials, error)
}

// Verification step names, in order.
const (
	StepIntegration = "integration"
	StepAssumeRole  = "assume-role"
	StepExternalID  = "external-id-required"
	StepRegion      = "bucket-region"
	StepList        = "list"
	StepRead        = "read"
	StepSniff       = "sniff"
)

// verifyListLimit bounds how many objects the list step counts.
const verifyListLimit = 1000

// HandleVerify runs a jobs.TypeVerify task and stores the jobs.VerifyReport
// on the task. Failed checks are the report's content, not a task failure.
func (h *Handlers) HandleVerify(ctx context.Context, t *asynq.Task) error {
	var p jobs.VerifyPayload
	if err := jobs.Decode(t.Payload(), &p); err != nil {
		return err
	}
	log := h.log.With(zap.String("task_id", taskID(t)), zap.String("workspace", p.WorkspaceID), zap.String("bucket", p.Bucket))
	rep, err := h.Verify(ctx, p)
	if err != nil {
		log.Warn("verify: failed", zap.Error(err))
		return err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode verify report: %w", err)
	}
	if w := t.ResultWriter(); w != nil {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("store verify report: %w", err)
		}
	}
	log.Info("verify: done", zap.Bool("ok", rep.OK()))
	return nil
}

// verifySteps are the steps of a verification, in order.
var verifySteps = []string{StepIntegration, StepAssumeRole, StepExternalID, StepRegion, StepList, StepRead, StepSniff}

// Verify checks a workspace's AWS integration against a bucket and prefix,
// step by step: the integration record, AssumeRole with the newest External
// ID (the one being rotated in during a rotation), AssumeRole without it
// (must be denied), the bucket's region, listing the prefix, a 1-byte read
// of the first non-empty object, and a format sniff of it. Each step passes,
// fails, warns or is skipped (when an earlier step it needs did not pass),
// with the cause and the fix.
//
// Verify returns an error only when it cannot produce a report: an invalid
// payload (permanent), the context ending, or Redis failing.
func (h *Handlers) Verify(ctx context.Context, p jobs.VerifyPayload) (*jobs.VerifyReport, error) {
	if err := p.Validate(); err != nil {
		return nil, &Permanent{Err: fmt.Errorf("verify: %w: %w", jobs.ErrInvalidPayload, err)}
	}
	v, ok := h.creds.(IntegrationVerifier)
	if !ok {
		return nil, &Permanent{Err: errors.New("verification needs a credstore.Resolver")}
	}
	rep := &jobs.VerifyReport{WorkspaceID: p.WorkspaceID, Bucket: p.Bucket, Prefix: p.Prefix}
	addAction := func(step string, st jobs.CheckStatus, detail, fix string, action jobs.CheckAction) {
		rep.Checks = append(rep.Checks, jobs.Check{Step: step, Status: st, Detail: detail, Fix: fix, Action: action})
	}
	add := func(step string, st jobs.CheckStatus, detail, fix string) { addAction(step, st, detail, fix, "") }
	// skipRest marks the steps from index from on as not run.
	skipRest := func(from int, why string) *jobs.VerifyReport {
		for _, s := range verifySteps[from:] {
			add(s, jobs.CheckSkip, "not run: "+why, "")
		}
		return rep
	}
	const earlierFailed = "an earlier step failed"
	// failS3 records an S3 failure of step: permanent ones fail the step;
	// transient ones (throttling, 5xx, network) too, but say to retry.
	failS3 := func(step string, err error) {
		cl := source.Classify(err)
		fix, action := cl.Fix, jobs.CheckAction("")
		if !cl.Permanent {
			fix, action = "this looks transient ("+string(cl.Kind)+"): verify again", jobs.ActionVerifyAgain
		}
		addAction(step, jobs.CheckFail, cl.Message, fix, action)
	}
	ws := p.WorkspaceID

	integ, err := v.Config().Store.GetIntegration(ctx, ws)
	switch {
	case errors.Is(err, credstore.ErrNotFound):
		addAction(StepIntegration, jobs.CheckFail, fmt.Sprintf("workspace %s has no AWS integration", ws),
			"create an AWS integration for the workspace with the role's ARN", jobs.ActionCreateIntegration)
		return skipRest(1, earlierFailed), nil
	case err != nil && isPermanent(err):
		addAction(StepIntegration, jobs.CheckFail, err.Error(),
			"remove the integration and create it again", jobs.ActionRecreateIntegration)
		return skipRest(1, earlierFailed), nil
	case err != nil:
		return nil, fmt.Errorf("verify: load integration of %s: %w", ws, err)
	case integ.Pending():
		addAction(StepIntegration, jobs.CheckFail, "the integration is pending: no role ARN yet",
			"set the integration's role ARN", jobs.ActionSetRole)
		return skipRest(1, earlierFailed), nil
	}
	rep.RoleARN = integ.RoleARN
	extID := integ.NewestExternalID()
	detail := fmt.Sprintf("role %s, platform principal %s", integ.RoleARN, integ.UserARN)
	if integ.Rotating() {
		detail += "; External ID rotation in progress: checking the new External ID " + extID
	}
	add(StepIntegration, jobs.CheckPass, detail, "")

	creds, err := v.AssumeRoleOnce(ctx, integ, extID)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		detail, fix, action := assumeRoleFailure(err, integ, extID)
		addAction(StepAssumeRole, jobs.CheckFail, detail, fix, action)
		return skipRest(2, earlierFailed), nil
	}
	add(StepAssumeRole, jobs.CheckPass, fmt.Sprintf("assumed %s with External ID %s; credentials expire %s",
		integ.RoleARN, extID, creds.Expires.UTC().Format(time.RFC3339)), "")

	_, err = v.AssumeRoleOnce(ctx, integ, "")
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	switch {
	case err == nil:
		addAction(StepExternalID, jobs.CheckWarn, "the role can be assumed WITHOUT the External ID: its trust policy lacks the sts:ExternalId condition, so another customer of the platform could make us read this bucket (confused deputy)",
			"add \"Condition\": {\"StringEquals\": {\"sts:ExternalId\": \""+extID+"\"}} to the role's trust policy (the integration's trust policy document has it)",
			jobs.ActionUpdateTrustPolicy)
	case credstore.IsSTSDenied(err):
		add(StepExternalID, jobs.CheckPass, "AssumeRole without the External ID is denied", "")
	default:
		addAction(StepExternalID, jobs.CheckWarn, "could not check: "+err.Error(), "verify again", jobs.ActionVerifyAgain)
	}

	c := h.newSource(credentials.StaticCredentialsProvider{Value: creds}, "", "", "")
	if h.cfg.S3Endpoint != "" {
		add(StepRegion, jobs.CheckPass, fmt.Sprintf("S3-compatible endpoint %s, region %s", h.cfg.S3Endpoint, h.cfg.S3Region), "")
	} else {
		region, err := c.BucketRegion(ctx, p.Bucket)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			failS3(StepRegion, err)
			return skipRest(4, earlierFailed), nil
		}
		add(StepRegion, jobs.CheckPass, "bucket "+p.Bucket+" is in "+region, "")
	}

	listing, first, err := sampleListing(ctx, c, jobs.Source{Bucket: p.Bucket, Prefix: p.Prefix}, verifyListLimit, 5)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	n, keys := int(listing.Objects), listing.FirstKeys
	where := "s3://" + p.Bucket + "/" + p.Prefix
	if err != nil {
		failS3(StepList, err)
		return skipRest(5, earlierFailed), nil
	}
	count := fmt.Sprintf("%d objects", n)
	switch {
	case listing.Truncated:
		count = fmt.Sprintf("%d or more objects", n)
	case n == 1:
		count = "1 object"
	}
	if first == nil {
		what := "no objects"
		if n > 0 {
			what = count + ", all empty"
		}
		add(StepList, jobs.CheckWarn, fmt.Sprintf("listing %s is allowed but found %s", where, what),
			"check the bucket and prefix, or upload data")
		return skipRest(5, "no non-empty object to read"), nil
	}
	add(StepList, jobs.CheckPass, fmt.Sprintf("%s under %s; first: %s", count, where, strings.Join(keys, ", ")), "")

	obj := c.Object(ctx, *first)
	rc, err := obj.Open(ctx, 0, 1)
	if err == nil {
		var one [1]byte
		_, err = io.ReadFull(rc, one[:])
		rc.Close()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		failS3(StepRead, err)
		return skipRest(6, earlierFailed), nil
	}
	add(StepRead, jobs.CheckPass, "read the first byte of "+obj.Name(), "")

	pr, err := parsers.Preview(ctx, obj, parsers.Options{}, 1, verifySniffBytes)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	switch {
	case err == nil:
		add(StepSniff, jobs.CheckPass, sniffDetail(obj.Name(), pr), "")
	case isParseFailure(err):
		add(StepSniff, jobs.CheckWarn, err.Error(), "set the format and compression in the job's parse options, or fix the object")
	default:
		failS3(StepSniff, err)
	}
	return rep, nil
}

// verifySniffBytes bounds the head read by the sniff step.
const verifySniffBytes = 256 << 10

// assumeRoleFailure words a failed AssumeRole with the External ID: the
// cause (naming the External ID that was sent), the fix and its action.
func assumeRoleFailure(err error, integ *credstore.Integration, extID string) (detail, fix string, action jobs.CheckAction) {
	var are *credstore.AssumeRoleError
	if !errors.As(err, &are) {
		// The record itself is unusable (e.g. a malformed role ARN or
		// External ID): nothing was sent to STS.
		return err.Error(), "set the integration's role ARN again, or remove the integration and create it again", jobs.ActionSetRole
	}
	detail = fmt.Sprintf("sts:AssumeRole of %s with External ID %s failed: %s", integ.RoleARN, extID, are.Cause)
	switch {
	case are.Code != "" || are.Message != "":
		detail += fmt.Sprintf(" (%s: %s)", are.Code, are.Message)
	case are.Err != nil:
		detail += fmt.Sprintf(" (%v)", are.Err)
	}
	fix = are.Fix()
	switch are.Cause {
	case credstore.CauseRoleNotFound, credstore.CauseInvalidRequest:
		action = jobs.ActionSetRole
	case credstore.CauseExternalIDMismatch, credstore.CausePrincipalNotTrusted, credstore.CauseAccessDenied:
		action = jobs.ActionUpdateTrustPolicy
	default:
		if are.Transient() {
			action = jobs.ActionVerifyAgain
		}
	}
	switch {
	case fix == "" && are.Transient():
		fix = "this looks transient (" + string(are.Cause) + "): verify again; if it persists, check that ingestd reaches STS"
	case integ.Rotating() && !are.Transient():
		fix += "; during the External ID rotation the trust policy must accept the new External ID " + extID +
			" as well as the current one (the integration's trust policy document has both)"
	}
	return detail, fix, action
}

// isParseFailure reports whether err is about the object's content (not
// the read of it).
func isParseFailure(err error) bool {
	var pe *parsers.ParseError
	return errors.As(err, &pe) || errors.Is(err, parsers.ErrUnsupported) || errors.Is(err, parsers.ErrCorrupt) ||
		errors.Is(err, parsers.ErrTooLarge)
}

func sniffDetail(name string, pr *parsers.PreviewResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: format %s, compression %s", name, pr.Format, pr.Compression)
	if pr.Format == parsers.FormatCSV {
		fmt.Fprintf(&b, ", delimiter %q, header %v", pr.Delimiter, pr.Header)
	}
	var names []string
	if pr.Schema != nil {
		names = pr.Schema.Names()
	}
	fmt.Fprintf(&b, ", %d columns", len(names))
	if len(names) > 0 {
		if len(names) > 8 {
			names = append(names[:8:8], "...")
		}
		b.WriteString(": " + strings.Join(names, ", "))
	}
	return b.String()
}
