package credstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// STSAPI is the part of the STS client the Resolver uses.
type STSAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// sts returns the STS client, building the default one on first use.
func (r *Resolver) sts(ctx context.Context) (STSAPI, error) {
	r.stsMu.Lock()
	defer r.stsMu.Unlock()
	if r.stsClient != nil {
		return r.stsClient, nil
	}
	var cfg aws.Config
	if r.cfg.AWSConfig != nil {
		cfg = r.cfg.AWSConfig.Copy()
	} else {
		var err error
		cfg, err = config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load the platform's AWS configuration: %w", err)
		}
	}
	if cfg.Region == "" {
		cfg.Region = r.cfg.STSRegion
	}
	r.stsClient = sts.NewFromConfig(cfg, func(o *sts.Options) {
		if r.cfg.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(r.cfg.STSEndpoint)
		}
	})
	return r.stsClient, nil
}

// SessionName returns the RoleSessionName used for a workspace: the
// prefix and the workspace ID reduced to STS's charset ([\w+=,.@-]), at
// most 64 characters (long IDs end in a hash of the full ID).
func (r *Resolver) SessionName(workspaceID string) string {
	return sessionName(r.cfg.SessionNamePrefix, workspaceID)
}

func sessionName(prefix, workspaceID string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, c := range workspaceID {
		if isIAMNameRune(c) {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > 64 {
		sum := sha256.Sum256([]byte(workspaceID))
		name = name[:64-9] + "-" + hex.EncodeToString(sum[:4])
	}
	return name
}

// AssumeRoleOnce calls sts:AssumeRole once for the integration's role with
// the Resolver's settings, bypassing every cache (for verification). Pass
// integ.NewestExternalID() to test the External ID being rotated in; an
// empty externalID omits the ExternalId parameter (the confused-deputy
// check: that call should be denied). Failures are *AssumeRoleError;
// a pending integration gives ErrIntegrationPending.
func (r *Resolver) AssumeRoleOnce(ctx context.Context, integ *Integration, externalID string) (aws.Credentials, error) {
	if integ.Pending() {
		return aws.Credentials{}, fmt.Errorf("workspace %s: %w", integ.WorkspaceID, ErrIntegrationPending)
	}
	if _, err := ParseRoleARN(integ.RoleARN); err != nil {
		return aws.Credentials{}, err
	}
	if externalID != "" {
		if err := ValidateExternalID(externalID); err != nil {
			return aws.Credentials{}, err
		}
	}
	return r.assumeRole(ctx, integ.WorkspaceID, integ.RoleARN, externalID, integ.UserARN)
}

func (r *Resolver) assumeRole(ctx context.Context, workspaceID, roleARN, externalID, userARN string) (aws.Credentials, error) {
	fail := func(err error) (aws.Credentials, error) {
		cause, code, msg := classifySTS(err)
		return aws.Credentials{}, &AssumeRoleError{
			WorkspaceID: workspaceID, RoleARN: roleARN, UserARN: userARN, WithExternalID: externalID != "",
			Cause: cause, Code: code, Message: msg, Err: err,
		}
	}
	client, err := r.sts(ctx)
	if err != nil {
		return fail(err)
	}
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(roleARN),
		RoleSessionName: aws.String(r.SessionName(workspaceID)),
		DurationSeconds: aws.Int32(int32(r.cfg.SessionDuration / time.Second)),
	}
	if !r.cfg.DisableSourceIdentity {
		in.SourceIdentity = aws.String(r.cfg.SourceIdentity)
	}
	if externalID != "" {
		in.ExternalId = aws.String(externalID)
	}
	out, err := client.AssumeRole(ctx, in)
	if err != nil {
		return fail(err)
	}
	c := out.Credentials
	if c == nil || aws.ToString(c.AccessKeyId) == "" || aws.ToString(c.SecretAccessKey) == "" || c.Expiration == nil {
		return fail(errors.New("STS returned incomplete credentials"))
	}
	return aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Source:          "s3ingest-assume-role",
		CanExpire:       true,
		Expires:         *c.Expiration,
	}, nil
}
