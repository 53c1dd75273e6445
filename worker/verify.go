package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

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
	rep, err := h.Verify(ctx, p)
	if err != nil {
		return err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if w := t.ResultWriter(); w != nil {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("store verify report: %w", err)
		}
	}
	h.log.Info("verify: done", zap.String("task_id", taskID(t)), zap.String("workspace", p.WorkspaceID), zap.Bool("ok", rep.OK()))
	return nil
}

// Verify checks a workspace's AWS integration against a bucket and prefix,
// step by step: the integration record, AssumeRole with the (newest)
// External ID, AssumeRole without it (must be denied), the bucket's region,
// listing the prefix, a 1-byte read of the first object, and a format sniff
// of it. Each step passes, fails, warns or is skipped (when an earlier step
// it needs failed), with the cause and the fix.
func (h *Handlers) Verify(ctx context.Context, p jobs.VerifyPayload) (*jobs.VerifyReport, error) {
	v, ok := h.creds.(IntegrationVerifier)
	if !ok {
		return nil, &Permanent{Err: errors.New("verification needs a credstore.Resolver")}
	}
	rep := &jobs.VerifyReport{WorkspaceID: p.WorkspaceID, Bucket: p.Bucket, Prefix: p.Prefix}
	add := func(step string, st jobs.CheckStatus, detail, fix string) {
		rep.Checks = append(rep.Checks, jobs.Check{Step: step, Status: st, Detail: detail, Fix: fix})
	}
	skipRest := func(from int) *jobs.VerifyReport {
		steps := []string{StepIntegration, StepAssumeRole, StepExternalID, StepRegion, StepList, StepRead, StepSniff}
		for _, s := range steps[from:] {
			add(s, jobs.CheckSkip, "not run: an earlier step failed", "")
		}
		return rep
	}

	integ, err := v.Config().Store.GetIntegration(ctx, p.WorkspaceID)
	switch {
	case errors.Is(err, credstore.ErrNotFound) || errors.Is(err, credstore.ErrNoCredentials):
		add(StepIntegration, jobs.CheckFail, fmt.Sprintf("workspace %s has no AWS integration", p.WorkspaceID),
			"create one: ingestctl integration create --workspace "+p.WorkspaceID+" --role-arn ARN")
		return skipRest(1), nil
	case err != nil:
		return nil, fmt.Errorf("verify: load integration of %s: %w", p.WorkspaceID, err)
	case integ.Pending():
		add(StepIntegration, jobs.CheckFail, "the integration is pending: no role ARN yet",
			"attach the role: ingestctl integration set-role --workspace "+p.WorkspaceID+" --role-arn ARN")
		return skipRest(1), nil
	}
	rep.RoleARN = integ.RoleARN
	extID := integ.NewestExternalID()
	detail := fmt.Sprintf("role %s, platform principal %s", integ.RoleARN, integ.UserARN)
	if integ.Rotating() {
		detail += "; External ID rotation in progress: checking the new External ID"
	}
	add(StepIntegration, jobs.CheckPass, detail, "")

	creds, err := v.AssumeRoleOnce(ctx, integ, extID)
	if err != nil {
		var are *credstore.AssumeRoleError
		if errors.As(err, &are) {
			add(StepAssumeRole, jobs.CheckFail, fmt.Sprintf("%s: %s", are.Cause, are.Message), are.Fix())
		} else {
			add(StepAssumeRole, jobs.CheckFail, err.Error(), "")
		}
		return skipRest(2), nil
	}
	add(StepAssumeRole, jobs.CheckPass, fmt.Sprintf("assumed %s with the External ID; credentials expire %s",
		integ.RoleARN, creds.Expires.UTC().Format("2006-01-02T15:04:05Z")), "")

	if _, err := v.AssumeRoleOnce(ctx, integ, ""); err == nil {
		add(StepExternalID, jobs.CheckWarn, "the role can be assumed WITHOUT the External ID: its trust policy lacks the sts:ExternalId condition, so another customer of the platform could make us read this bucket (confused deputy)",
			"add \"Condition\": {\"StringEquals\": {\"sts:ExternalId\": \""+extID+"\"}} to the role's trust policy (ingestctl integration show prints it)")
	} else if credstore.IsSTSDenied(err) {
		add(StepExternalID, jobs.CheckPass, "AssumeRole without the External ID is denied", "")
	} else {
		add(StepExternalID, jobs.CheckWarn, "could not check: "+err.Error(), "run verify again")
	}

	prov := credentials.StaticCredentialsProvider{Value: creds}
	opt := source.Options{Endpoint: h.cfg.S3Endpoint}
	var c *source.Client
	if opt.Endpoint != "" {
		opt.UsePathStyle, opt.Region = true, h.cfg.S3Region
		c = source.New(prov, opt)
		add(StepRegion, jobs.CheckPass, fmt.Sprintf("S3-compatible endpoint %s, region %s", opt.Endpoint, opt.Region), "")
	} else {
		region, err := source.New(prov, opt).BucketRegion(ctx, p.Bucket)
		if err != nil {
			cl := source.Classify(err)
			add(StepRegion, jobs.CheckFail, cl.Message, cl.Fix)
			return skipRest(4), nil
		}
		opt.Region = region
		c = source.New(prov, opt)
		add(StepRegion, jobs.CheckPass, "bucket "+p.Bucket+" is in "+region, "")
	}

	var (
		n     int
		first *source.ObjectInfo
		keys  []string
	)
	err = c.List(ctx, p.Bucket, p.Prefix, "", func(info source.ObjectInfo) error {
		if n >= verifyListLimit {
			return errStopListing
		}
		n++
		if len(keys) < 5 {
			keys = append(keys, info.Key)
		}
		if first == nil && info.Size > 0 {
			first = &info
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopListing) {
		cl := source.Classify(err)
		add(StepList, jobs.CheckFail, cl.Message, cl.Fix)
		return skipRest(5), nil
	}
	more := ""
	if n >= verifyListLimit {
		more = " or more"
	}
	if first == nil {
		add(StepList, jobs.CheckWarn, fmt.Sprintf("listing s3://%s/%s is allowed but found %d%s non-empty objects", p.Bucket, p.Prefix, n, more),
			"check the prefix, or upload data")
		return skipRest(5), nil
	}
	add(StepList, jobs.CheckPass, fmt.Sprintf("%d%s objects under s3://%s/%s; first: %s", n, more, p.Bucket, p.Prefix, strings.Join(keys, ", ")), "")

	obj := c.Object(ctx, *first)
	rc, err := obj.Open(ctx, 0, 1)
	if err == nil {
		var one [1]byte
		_, err = rc.Read(one[:])
		rc.Close()
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		cl := source.Classify(err)
		add(StepRead, jobs.CheckFail, cl.Message, cl.Fix)
		return skipRest(6), nil
	}
	add(StepRead, jobs.CheckPass, "read the first byte of "+obj.Name(), "")

	pr, err := parsers.Preview(ctx, obj, parsers.Options{}, 1, 256<<10)
	if err != nil {
		add(StepSniff, jobs.CheckWarn, err.Error(), "set the format and compression in the job's parse options, or fix the object")
		return rep, nil
	}
	add(StepSniff, jobs.CheckPass, fmt.Sprintf("%s, compression %s, %d columns", pr.Format, pr.Compression, len(pr.Schema.Fields)), "")
	return rep, nil
}
