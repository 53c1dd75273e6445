package credstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
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
	return r.newAssumeProvider(integ.WorkspaceID, integ.RoleARN, externalID, integ.UserARN).Retrieve(ctx)
}

// assumeProvider is stscreds' AssumeRoleProvider for one (workspace, role,
// External ID) with the Resolver's settings, its failures converted into
// *AssumeRoleError. It caches nothing: the entry's CredentialsCache and
// assumeSource above it do.
type assumeProvider struct {
	workspaceID, roleARN, userARN string
	withExternalID                bool
	p                             *stscreds.AssumeRoleProvider
}

// newAssumeProvider builds the provider; an empty externalID omits the
// ExternalId parameter.
func (r *Resolver) newAssumeProvider(workspaceID, roleARN, externalID, userARN string) *assumeProvider {
	p := stscreds.NewAssumeRoleProvider(lazySTS{r}, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = r.SessionName(workspaceID)
		o.Duration = r.cfg.SessionDuration
		if externalID != "" {
			o.ExternalID = aws.String(externalID)
		}
		if !r.cfg.DisableSourceIdentity {
			o.SourceIdentity = aws.String(r.cfg.SourceIdentity)
		}
	})
	return &assumeProvider{workspaceID: workspaceID, roleARN: roleARN, userARN: userARN, withExternalID: externalID != "", p: p}
}

// Retrieve implements aws.CredentialsProvider: one sts:AssumeRole call.
// Errors are *AssumeRoleError.
func (a *assumeProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := a.p.Retrieve(ctx)
	if err == nil && (creds.AccessKeyID == "" || creds.SecretAccessKey == "" || creds.Expires.IsZero()) {
		err = errors.New("STS returned incomplete credentials")
	}
	if err != nil {
		return aws.Credentials{}, a.fail(err)
	}
	return creds, nil
}

// fail converts an STS failure into *AssumeRoleError (classifySTS says
// why).
func (a *assumeProvider) fail(err error) *AssumeRoleError {
	cause, code, msg := classifySTS(err)
	return &AssumeRoleError{
		WorkspaceID: a.workspaceID, RoleARN: a.roleARN, UserARN: a.userARN, WithExternalID: a.withExternalID,
		Cause: cause, Code: code, Message: msg, Err: err,
	}
}

// lazySTS is the STS client handed to stscreds: it builds the Resolver's
// client on first use, so NewResolver does not contact AWS or read the
// platform's AWS configuration.
type lazySTS struct{ r *Resolver }

// AssumeRole implements stscreds.AssumeRoleAPIClient.
func (l lazySTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	client, err := l.r.sts(ctx)
	if err != nil {
		return nil, err
	}
	return client.AssumeRole(ctx, in, optFns...)
}
