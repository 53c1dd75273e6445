package credstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
)

const roleA = "arn:aws:iam::123456789012:role/customer-reader"

func TestIntegrationLifecycle(t *testing.T) {
	t.Parallel()
	s, rdb := newStore(t)
	ctx := testCtx(t)
	sub := rdb.Subscribe(ctx, s.InvalidationChannel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := sub.Channel()
	expectMsg := func(what string) {
		t.Helper()
		select {
		case m := <-msgs:
			if m.Payload != "ws-1" {
				t.Fatalf("%s: invalidation for %q", what, m.Payload)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no invalidation message", what)
		}
	}

	in, err := s.CreateIntegration(ctx, "ws-1", roleA)
	if err != nil {
		t.Fatal(err)
	}
	expectMsg("create")
	if in.RoleARN != roleA || in.UserARN != testUserARN || len(in.ExternalID) < 32 || in.Pending() || in.Rotating() || in.CreatedAt.IsZero() || in.Revision == "" {
		t.Fatalf("created %+v", in)
	}
	got, err := s.GetIntegration(ctx, "ws-1")
	if err != nil || got.ExternalID != in.ExternalID || got.RoleARN != roleA || !got.CreatedAt.Equal(in.CreatedAt) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	trust, err := got.TrustPolicy()
	if err != nil || !strings.Contains(string(trust), in.ExternalID) || !strings.Contains(string(trust), testUserARN) {
		t.Fatalf("trust policy %s, %v", trust, err)
	}

	// Second create: refused, record unchanged.
	_, err = s.CreateIntegration(ctx, "ws-1", "arn:aws:iam::123456789012:role/other")
	if !errors.Is(err, credstore.ErrExists) || !strings.Contains(err.Error(), "already has") {
		t.Fatalf("second create: %v", err)
	}
	if again, _ := s.GetIntegration(ctx, "ws-1"); again.ExternalID != in.ExternalID || again.RoleARN != roleA || again.Revision != in.Revision {
		t.Fatalf("second create changed the record: %+v", again)
	}

	// Rotation with overlap.
	rot, err := s.RotateExternalID(ctx, "ws-1")
	if err != nil {
		t.Fatal(err)
	}
	expectMsg("rotate")
	if rot.ExternalID != in.ExternalID || rot.NextExternalID == "" || rot.NextExternalID == in.ExternalID || rot.NewestExternalID() != rot.NextExternalID || rot.RotationStartedAt.IsZero() {
		t.Fatalf("rotating %+v", rot)
	}
	if ids := rot.TrustedExternalIDs(); len(ids) != 2 || ids[0] != in.ExternalID || ids[1] != rot.NextExternalID {
		t.Fatalf("trusted ids %v", ids)
	}
	tp, _ := rot.TrustPolicy()
	if !strings.Contains(string(tp), in.ExternalID) || !strings.Contains(string(tp), rot.NextExternalID) {
		t.Fatalf("rotation trust policy lacks an ID:\n%s", tp)
	}
	if _, err := s.RotateExternalID(ctx, "ws-1"); !errors.Is(err, credstore.ErrRotationInProgress) {
		t.Fatalf("rotate twice: %v", err)
	}
	fin, err := s.FinishRotation(ctx, "ws-1")
	if err != nil {
		t.Fatal(err)
	}
	expectMsg("finish")
	if fin.ExternalID != rot.NextExternalID || fin.NextExternalID != "" || !fin.RotationStartedAt.IsZero() {
		t.Fatalf("finished %+v", fin)
	}
	if _, err := s.FinishRotation(ctx, "ws-1"); !errors.Is(err, credstore.ErrNoRotation) {
		t.Fatalf("finish twice: %v", err)
	}
	rot2, _ := s.RotateExternalID(ctx, "ws-1")
	expectMsg("rotate 2")
	canc, err := s.CancelRotation(ctx, "ws-1")
	if err != nil || canc.ExternalID != fin.ExternalID || canc.NextExternalID != "" || rot2.NextExternalID == "" {
		t.Fatalf("cancel = %+v, %v", canc, err)
	}
	expectMsg("cancel")

	// Remove, then create: new External ID.
	if err := s.RemoveIntegration(ctx, "ws-1"); err != nil {
		t.Fatal(err)
	}
	expectMsg("remove")
	if _, err := s.GetIntegration(ctx, "ws-1"); !errors.Is(err, credstore.ErrNotFound) || !strings.Contains(err.Error(), "create an AWS integration for the workspace") || strings.Contains(err.Error(), "ingestctl") {
		t.Fatalf("Get after remove: %v", err)
	}
	if err := s.RemoveIntegration(ctx, "ws-1"); !errors.Is(err, credstore.ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
	in2, err := s.CreateIntegration(ctx, "ws-1", roleA)
	if err != nil {
		t.Fatal(err)
	}
	expectMsg("create 2")
	for _, old := range []string{in.ExternalID, rot.NextExternalID, rot2.NextExternalID} {
		if in2.ExternalID == old {
			t.Fatal("remove + create reused an External ID")
		}
	}
}

func TestIntegrationPendingThenSetRole(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := testCtx(t)
	p, err := s.CreateIntegration(ctx, "ws", "")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Pending() || p.ExternalID == "" || p.UserARN != testUserARN {
		t.Fatalf("pending %+v", p)
	}
	if _, err := p.TrustPolicy(); err != nil {
		t.Fatalf("pending trust policy: %v", err)
	}
	var ae *credstore.ARNError
	if _, err := s.SetRole(ctx, "ws", "arn:aws:iam::123:role/x"); !errors.As(err, &ae) || ae.Part != credstore.ARNPartAccount {
		t.Fatalf("bad set-role: %v", err)
	}
	if still, _ := s.GetIntegration(ctx, "ws"); !still.Pending() || still.Revision != p.Revision {
		t.Fatalf("failed set-role changed the record: %+v", still)
	}
	set, err := s.SetRole(ctx, "ws", " "+roleA+" ")
	if err != nil || set.RoleARN != roleA || set.ExternalID != p.ExternalID || set.Revision == p.Revision {
		t.Fatalf("set-role = %+v, %v", set, err)
	}
}

func TestIntegrationBadInputs(t *testing.T) {
	t.Parallel()
	s, rdb := newStore(t)
	ctx := testCtx(t)
	var ae *credstore.ARNError
	for _, bad := range []string{"arn:aws:iam::123456789012:user/x", "arn:aws:iam::12345:role/x", "not-an-arn", "arn:aws-iso:iam::123456789012:role/x"} {
		if _, err := s.CreateIntegration(ctx, "ws", bad); !errors.As(err, &ae) {
			t.Errorf("create with %q: %v", bad, err)
		}
	}
	var ve *credstore.ValidationError
	for _, ws := range []string{"", "a b", "x}y"} {
		if _, err := s.CreateIntegration(ctx, ws, roleA); !errors.As(err, &ve) || ve.Field != "workspace" {
			t.Errorf("create in workspace %q: %v", ws, err)
		}
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("bad inputs wrote %d keys", n)
	}
	// Unknown workspace: every operation says there is no integration.
	for name, op := range map[string]func() error{
		"get":     func() error { _, err := s.GetIntegration(ctx, "nobody"); return err },
		"setrole": func() error { _, err := s.SetRole(ctx, "nobody", roleA); return err },
		"rotate":  func() error { _, err := s.RotateExternalID(ctx, "nobody"); return err },
		"finish":  func() error { _, err := s.FinishRotation(ctx, "nobody"); return err },
		"cancel":  func() error { _, err := s.CancelRotation(ctx, "nobody"); return err },
		"remove":  func() error { return s.RemoveIntegration(ctx, "nobody") },
	} {
		if err := op(); !errors.Is(err, credstore.ErrNotFound) || !strings.Contains(err.Error(), "nobody has no AWS integration") {
			t.Errorf("%s on unknown workspace: %v", name, err)
		}
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("operations on an unknown workspace wrote %d keys", n)
	}
}

func TestConcurrentCreatesExactlyOneWins(t *testing.T) {
	t.Parallel()
	srv := testenv.Redis(t)
	ctx := testCtx(t)
	const n = 32
	var wins, exists atomic.Int32
	var winner atomic.Pointer[credstore.Integration]
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		// Each "API instance" has its own connection.
		s := storeOn(t, srv.Client(t), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			in, err := s.CreateIntegration(ctx, "ws-race", roleA)
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(in)
			case errors.Is(err, credstore.ErrExists):
				exists.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || exists.Load() != n-1 {
		t.Fatalf("%d creates won, %d saw ErrExists", wins.Load(), exists.Load())
	}
	s := storeOn(t, srv.Client(t), nil)
	got, err := s.GetIntegration(ctx, "ws-race")
	if err != nil || got.ExternalID != winner.Load().ExternalID {
		t.Fatalf("stored %+v, winner %+v, %v", got, winner.Load(), err)
	}
}

type fakeIdentity struct {
	calls atomic.Int32
	arn   string
	err   error
}

func (f *fakeIdentity) GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, _ ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return &sts.GetCallerIdentityOutput{Arn: aws.String(f.arn)}, nil
}

func TestPlatformARNLookup(t *testing.T) {
	t.Setenv(credstore.PlatformARNEnv, "")
	rdb := testenv.Redis(t).Client(t)
	ctx := testCtx(t)

	failing := &fakeIdentity{err: errors.New("no credentials in the chain")}
	s, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, LookupPlatformARN: credstore.CallerIdentityLookup(failing)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateIntegration(ctx, "ws", roleA)
	if err == nil || !strings.Contains(err.Error(), credstore.PlatformARNEnv) || !strings.Contains(err.Error(), "no credentials in the chain") {
		t.Fatalf("failed lookup: %v", err)
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("failed lookup wrote %d keys", n)
	}

	fake := &fakeIdentity{arn: "arn:aws:sts::111122223333:assumed-role/ingestd/i-0123"}
	s, _ = credstore.NewStore(credstore.StoreConfig{Redis: rdb, LookupPlatformARN: credstore.CallerIdentityLookup(fake)})
	in, err := s.CreateIntegration(ctx, "ws", roleA)
	if err != nil || in.UserARN != "arn:aws:iam::111122223333:role/ingestd" {
		t.Fatalf("looked-up User ARN: %+v, %v", in, err)
	}
	_, _ = s.CreateIntegration(ctx, "ws2", roleA)
	if fake.calls.Load() != 1 {
		t.Fatalf("GetCallerIdentity called %d times, want 1 (remembered)", fake.calls.Load())
	}

	// The environment variable wins over the lookup and is validated.
	t.Setenv(credstore.PlatformARNEnv, "arn:aws:iam::111122223333:user/from-env")
	s, err = credstore.NewStore(credstore.StoreConfig{Redis: rdb, LookupPlatformARN: credstore.CallerIdentityLookup(failing)})
	if err != nil {
		t.Fatal(err)
	}
	if arn, err := s.PlatformARN(ctx); err != nil || arn != "arn:aws:iam::111122223333:user/from-env" {
		t.Fatalf("env ARN = %q, %v", arn, err)
	}
	t.Setenv(credstore.PlatformARNEnv, "arn:aws:iam::1:user/x")
	if _, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb}); err == nil || !strings.Contains(err.Error(), credstore.PlatformARNEnv) {
		t.Fatalf("bad env ARN: %v", err)
	}
	if _, err := credstore.NewStore(credstore.StoreConfig{}); err == nil || !strings.Contains(err.Error(), "Redis") {
		t.Fatalf("nil Redis: %v", err)
	}
}
