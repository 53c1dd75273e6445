package credstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Resolved is the outcome of Resolve: where a job's S3 credentials come
// from.
type Resolved struct {
	// Provider yields the credentials. For an integration it is backed by
	// a shared aws.CredentialsCache that refreshes ahead of expiry; after
	// the integration is removed it fails with ErrIntegrationRemoved.
	Provider aws.CredentialsProvider
	// Region is the credential instance's configured region, "" to
	// discover the bucket's region.
	Region string
	// Endpoint is the credential instance's S3-compatible endpoint, ""
	// for AWS. When set, use path-style addressing.
	Endpoint string
	// Source names the origin for logs: "credential:<id>" or
	// "integration:<role ARN>". Never secret.
	Source string
	// CredentialID is the credential instance used, "" for an integration.
	CredentialID string
	// RoleARN is the integration's role, "" for a credential instance.
	RoleARN string
}

// String describes where the credentials come from, never the
// credentials themselves.
func (r Resolved) String() string {
	s := "Resolved{Source:" + r.Source
	if r.Region != "" {
		s += " Region:" + r.Region
	}
	if r.Endpoint != "" {
		s += " Endpoint:" + r.Endpoint
	}
	return s + "}"
}

// Format implements fmt.Formatter: every verb prints String, so %+v and
// %#v cannot reach the provider's keys.
func (r Resolved) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }

// MarshalJSON omits the provider.
func (r Resolved) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Source       string `json:"source"`
		Region       string `json:"region,omitempty"`
		Endpoint     string `json:"endpoint,omitempty"`
		CredentialID string `json:"credential_id,omitempty"`
		RoleARN      string `json:"role_arn,omitempty"`
	}{r.Source, r.Region, r.Endpoint, r.CredentialID, r.RoleARN})
}

// MarshalLogObject implements zapcore.ObjectMarshaler without secrets.
func (r Resolved) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("source", r.Source)
	if r.Region != "" {
		enc.AddString("region", r.Region)
	}
	if r.Endpoint != "" {
		enc.AddString("endpoint", r.Endpoint)
	}
	return nil
}

// Resolver turns a job's (workspace, credential ID) into AWS credentials.
// Create one per process with NewResolver and run Run in the background
// so integration changes made anywhere drop this process's caches. It is
// safe for concurrent use.
type Resolver struct {
	cfg   ResolverConfig
	store *Store
	log   *zap.Logger

	stsMu     sync.Mutex
	stsClient STSAPI

	mu      sync.Mutex
	entries map[string]*entry // by workspace ID
}

// NewResolver validates cfg (errors name the field) and returns a
// Resolver. It does not contact AWS.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Resolver{cfg: cfg, store: cfg.Store, log: cfg.Logger, stsClient: cfg.STS, entries: map[string]*entry{}}, nil
}

// Config returns the effective configuration (defaults filled in).
func (r *Resolver) Config() ResolverConfig { return r.cfg }

// Resolve returns the credentials a job of workspaceID may use. With a
// credentialID: that workspace's credential instance (an ID of another
// workspace is not found; the error does not say whether it exists
// elsewhere). Without: the workspace's AWS integration through STS
// AssumeRole with its External ID, cached per (workspace, role ARN,
// External ID). For an integration, Resolve retrieves the credentials once
// (from cache when possible) so that AssumeRole failures surface here as
// *AssumeRoleError.
//
// Errors: *ValidationError, ErrNotFound (credential), ErrNoCredentials
// (neither integration nor credential), ErrIntegrationPending,
// *AssumeRoleError, sealing errors, or Redis errors (transient). Use
// IsPermanent to decide whether to retry.
func (r *Resolver) Resolve(ctx context.Context, workspaceID, credentialID string) (*Resolved, error) {
	if err := ValidateWorkspaceID(workspaceID); err != nil {
		return nil, err
	}
	if credentialID != "" {
		return r.resolveCredential(ctx, workspaceID, credentialID)
	}
	e, err := r.integrationEntry(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	p := newIntegrationProvider(r, e)
	if _, err := p.Retrieve(ctx); err != nil {
		// Drop the CredentialsCache's "failed to refresh cached
		// credentials" wrapper: the AssumeRoleError says it all.
		var are *AssumeRoleError
		if errors.As(err, &are) {
			return nil, are
		}
		return nil, err
	}
	return &Resolved{Provider: p, Source: "integration:" + e.roleARN, RoleARN: e.roleARN}, nil
}

func (r *Resolver) resolveCredential(ctx context.Context, workspaceID, credentialID string) (*Resolved, error) {
	c, h, err := r.store.loadCredential(ctx, workspaceID, credentialID)
	if err != nil {
		return nil, err
	}
	secret, token, err := r.store.credentialSecrets(c, h)
	if err != nil {
		return nil, err
	}
	prov := credentials.NewStaticCredentialsProvider(c.AccessKeyID, secret.Reveal(), token.Reveal())
	return &Resolved{Provider: prov, Region: c.Region, Endpoint: c.Endpoint, Source: "credential:" + c.ID, CredentialID: c.ID}, nil
}

func (r *Resolver) noCredentials(workspaceID string) error {
	return fmt.Errorf("workspace %s: %w: the job names no credential instance and the workspace has no AWS integration; create an AWS integration for the workspace, or store access keys as a credential instance of the workspace and name it in the job",
		workspaceID, ErrNoCredentials)
}

// integrationEntry returns the live cache entry for the workspace's
// integration, loading or replacing it when the record's revision changed.
func (r *Resolver) integrationEntry(ctx context.Context, workspaceID string) (*entry, error) {
	for attempt := 0; ; attempt++ {
		rev, err := r.store.integrationRevision(ctx, workspaceID)
		if isRedisNil(err) {
			r.drop(workspaceID, nil)
			return nil, r.noCredentials(workspaceID)
		}
		if err != nil {
			return nil, fmt.Errorf("read integration of workspace %s: %w", workspaceID, err)
		}
		r.mu.Lock()
		e := r.entries[workspaceID]
		r.mu.Unlock()
		if e != nil && e.revision() == rev && e.state.Load() == stateLive {
			return e, nil
		}
		integ, err := r.store.GetIntegration(ctx, workspaceID)
		if errors.Is(err, ErrNotFound) {
			r.drop(workspaceID, nil)
			return nil, r.noCredentials(workspaceID)
		}
		if err != nil {
			return nil, err
		}
		if integ.Pending() {
			r.drop(workspaceID, nil)
			return nil, fmt.Errorf("workspace %s: %w: attach the customer's role to the integration (set its role ARN)", workspaceID, ErrIntegrationPending)
		}
		e = r.install(integ)
		// The record may have changed (or been removed) between reading it
		// and installing the entry; re-check so a removal that raced with
		// this load cannot leave a usable entry behind.
		rev2, err := r.store.integrationRevision(ctx, workspaceID)
		if err == nil && rev2 == integ.Revision {
			return e, nil
		}
		if err != nil && !isRedisNil(err) {
			return nil, fmt.Errorf("read integration of workspace %s: %w", workspaceID, err)
		}
		if attempt >= 3 {
			return nil, fmt.Errorf("workspace %s: integration is changing too fast to resolve; retry", workspaceID)
		}
	}
}

// install makes integ the workspace's entry: an entry with the same role
// ARN and External ID is kept (its credentials stay cached); otherwise a
// new entry replaces it and the old one forwards to the new one.
func (r *Resolver) install(integ *Integration) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.entries[integ.WorkspaceID]
	if old != nil && old.state.Load() == stateLive && old.roleARN == integ.RoleARN && old.externalID == integ.ExternalID {
		old.setRevision(integ.Revision)
		return old
	}
	e := r.newEntry(integ)
	r.entries[integ.WorkspaceID] = e
	if old != nil {
		old.next.Store(e)
		old.state.CompareAndSwap(stateLive, stateSuperseded)
		r.log.Info("credstore: integration changed, cache entry replaced",
			zap.String("workspace_id", integ.WorkspaceID), zap.String("role_arn", integ.RoleARN))
	}
	return e
}

// drop removes the workspace's entry (if it is e, or any when e is nil)
// and marks it removed, so providers handed out earlier fail.
func (r *Resolver) drop(workspaceID string, e *entry) {
	r.mu.Lock()
	cur := r.entries[workspaceID]
	if cur != nil && (e == nil || cur == e) {
		delete(r.entries, workspaceID)
		cur.state.Store(stateRemoved)
	}
	r.mu.Unlock()
	if cur != nil && (e == nil || cur == e) {
		r.log.Info("credstore: integration removed, cache entry dropped", zap.String("workspace_id", workspaceID))
	}
}

// revalidate re-reads the workspace's revision and updates or drops its
// entry. Called for invalidation messages and by the periodic sweep.
func (r *Resolver) revalidate(ctx context.Context, workspaceID, rev string, revErr error) {
	r.mu.Lock()
	e := r.entries[workspaceID]
	r.mu.Unlock()
	if e == nil {
		return
	}
	if isRedisNil(revErr) {
		r.drop(workspaceID, e)
		return
	}
	if revErr != nil {
		r.log.Warn("credstore: cannot re-check integration", zap.String("workspace_id", workspaceID), zap.Error(revErr))
		return
	}
	if rev == e.revision() {
		return
	}
	integ, err := r.store.GetIntegration(ctx, workspaceID)
	switch {
	case errors.Is(err, ErrNotFound):
		r.drop(workspaceID, e)
	case err != nil:
		r.log.Warn("credstore: cannot re-check integration", zap.String("workspace_id", workspaceID), zap.Error(err))
	case integ.Pending():
		r.drop(workspaceID, e)
	default:
		r.install(integ)
	}
}

// Run subscribes to the store's invalidation channel and drops or updates
// cache entries when an integration changes anywhere (remove, set-role,
// rotation); every RecheckInterval it also re-reads the revisions of all
// cached integrations, covering messages missed while disconnected, and
// evicts entries idle for IdleTTL. It keeps retrying while Redis is
// unreachable and returns nil when ctx ends.
func (r *Resolver) Run(ctx context.Context) error {
	sub := r.store.rdb.Subscribe(ctx, r.store.InvalidationChannel())
	defer sub.Close()
	// Wait for the subscription; while Redis is unreachable keep trying
	// (Resolve's revision check keeps removals effective meanwhile).
	for {
		_, err := sub.Receive(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		r.log.Warn("credstore: cannot subscribe to integration changes, retrying",
			zap.String("channel", r.store.InvalidationChannel()), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	// Anything that changed before the subscription was confirmed.
	r.sweep(ctx)
	ch := sub.Channel()
	tick := time.NewTicker(r.cfg.RecheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-ch:
			if !ok {
				return nil
			}
			ws := msg.Payload
			rev, err := r.store.integrationRevision(ctx, ws)
			r.revalidate(ctx, ws, rev, err)
		case <-tick.C:
			r.sweep(ctx)
		}
	}
}

// sweep re-checks every cached entry's revision (one pipelined round trip)
// and evicts idle entries.
func (r *Resolver) sweep(ctx context.Context) {
	now := r.cfg.Now()
	r.mu.Lock()
	wss := make([]string, 0, len(r.entries))
	for ws, e := range r.entries {
		if now.Sub(time.Unix(0, e.lastUsed.Load())) > r.cfg.IdleTTL {
			// Idle: nothing uses it, so dropping it from the map is safe;
			// a provider still holding it resolves afresh.
			delete(r.entries, ws)
			e.state.Store(stateEvicted)
			continue
		}
		wss = append(wss, ws)
	}
	r.mu.Unlock()
	if len(wss) == 0 {
		return
	}
	pipe := r.store.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(wss))
	for i, ws := range wss {
		cmds[i] = pipe.HGet(ctx, r.store.integrationKey(ws), fRevision)
	}
	_, _ = pipe.Exec(ctx)
	for i, ws := range wss {
		rev, err := cmds[i].Result()
		r.revalidate(ctx, ws, rev, err)
	}
}

// CachedWorkspaces returns the workspaces whose integrations this Resolver
// currently caches (for metrics and tests).
func (r *Resolver) CachedWorkspaces() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.entries))
	for ws := range r.entries {
		out = append(out, ws)
	}
	return out
}
