package credstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
)

// recordingSTS answers AssumeRole with out and records the inputs.
type recordingSTS struct {
	mu  sync.Mutex
	in  []sts.AssumeRoleInput
	out *sts.AssumeRoleOutput
}

func (f *recordingSTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.in = append(f.in, *in)
	return f.out, nil
}

func (f *recordingSTS) last(t *testing.T) sts.AssumeRoleInput {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.in) == 0 {
		t.Fatal("STS was not called")
	}
	return f.in[len(f.in)-1]
}

// TestAssumeRoleParameters pins what the Resolver asks of STS, whatever
// builds the request: role, session name, duration, External ID and source
// identity (or none when disabled or for the confused-deputy check).
func TestAssumeRoleParameters(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := storeOn(t, testenv.Redis(t).Client(t), newKeyring(t))
	const role = "arn:aws:iam::123456789012:role/reader"
	integ, err := s.CreateIntegration(ctx, "ws-params", role)
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(time.Hour)
	fake := &recordingSTS{out: &sts.AssumeRoleOutput{Credentials: &types.Credentials{
		AccessKeyId: aws.String("AKIA"), SecretAccessKey: aws.String("secret"), SessionToken: aws.String("token"), Expiration: &expires,
	}}}
	r, err := credstore.NewResolver(credstore.ResolverConfig{Store: s, STS: fake, SessionDuration: 2 * time.Hour, SourceIdentity: "platform-x"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Resolve(ctx, "ws-params", "")
	if err != nil {
		t.Fatal(err)
	}
	in := fake.last(t)
	if aws.ToString(in.RoleArn) != role || aws.ToString(in.RoleSessionName) != r.SessionName("ws-params") ||
		aws.ToInt32(in.DurationSeconds) != 7200 || aws.ToString(in.ExternalId) != integ.ExternalID || aws.ToString(in.SourceIdentity) != "platform-x" {
		t.Fatalf("AssumeRole input: role %s session %s duration %d external ID %q source identity %q",
			aws.ToString(in.RoleArn), aws.ToString(in.RoleSessionName), aws.ToInt32(in.DurationSeconds), aws.ToString(in.ExternalId), aws.ToString(in.SourceIdentity))
	}
	creds, err := res.Provider.Retrieve(ctx)
	if err != nil || creds.AccessKeyID != "AKIA" || creds.SessionToken != "token" || !creds.CanExpire ||
		creds.Expires.After(expires) || !creds.Expires.After(time.Now()) { // the cache moves Expires ahead by its window
		t.Fatalf("credentials %+v, %v", creds, err)
	}

	// The confused-deputy check sends no External ID; disabling the source
	// identity sends none.
	r2, err := credstore.NewResolver(credstore.ResolverConfig{Store: s, STS: fake, DisableSourceIdentity: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.AssumeRoleOnce(ctx, integ, ""); err != nil {
		t.Fatal(err)
	}
	if in := fake.last(t); in.ExternalId != nil || in.SourceIdentity != nil || aws.ToInt32(in.DurationSeconds) != 3600 {
		t.Fatalf("AssumeRoleOnce without External ID sent external ID %v, source identity %v, duration %d",
			in.ExternalId, in.SourceIdentity, aws.ToInt32(in.DurationSeconds))
	}

	// STS answering without usable credentials is an AssumeRoleError.
	fake.out = &sts.AssumeRoleOutput{Credentials: &types.Credentials{AccessKeyId: aws.String("AKIA")}}
	_, err = r2.AssumeRoleOnce(ctx, integ, integ.ExternalID)
	var are *credstore.AssumeRoleError
	if !errors.As(err, &are) || are.RoleARN != role || are.WorkspaceID != "ws-params" || !are.WithExternalID {
		t.Fatalf("incomplete credentials: %v, want an *AssumeRoleError for the role", err)
	}
}
