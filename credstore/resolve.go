package credstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Defaults of ResolverConfig.
const (
	DefaultSessionDuration   = time.Hour
	DefaultExpiryWindow      = 5 * time.Minute
	DefaultNegativeCacheTTL  = 30 * time.Second
	DefaultRecheckInterval   = 30 * time.Second
	DefaultIdleTTL           = time.Hour
	DefaultSourceIdentity    = "s3ingest"
	DefaultSessionNamePrefix = "s3ingest-"
	DefaultSTSRegion         = "us-east-1"
)

// STSAPI is the part of the STS client the Resolver uses.
type STSAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// ResolverConfig configures a Resolver. The zero value of every field but
// Store selects the documented default.
type ResolverConfig struct {
	// Store holds the records (required).
	Store *Store

	// STS is the client that calls sts:AssumeRole, signed with the
	// platform's credentials. Default: built on first use from AWSConfig
	// (or the default AWS credential chain), STSRegion and STSEndpoint.
	STS STSAPI
	// AWSConfig is the platform's AWS configuration used to build the STS
	// client when STS is nil. Default: config.LoadDefaultConfig.
	AWSConfig *aws.Config
	// STSRegion is the STS region when STS is nil and the AWS config has
	// none. Default "us-east-1".
	STSRegion string
	// STSEndpoint overrides the STS endpoint URL when STS is nil (for
	// tests or VPC endpoints). Default: the region's AWS endpoint.
	STSEndpoint string

	// SessionDuration is the DurationSeconds asked of STS. Default 1h;
	// must be between 15m and 12h (the role's MaxSessionDuration must
	// allow it; role chaining caps it at 1h).
	SessionDuration time.Duration
	// ExpiryWindow is how long before expiry cached credentials are
	// refreshed, so long ingests keep reading. Default 5m; must be
	// smaller than SessionDuration.
	ExpiryWindow time.Duration
	// ExpiryWindowJitterFrac randomises the window by up to this fraction
	// so many workers do not refresh at once. Default 0 (no jitter);
	// must be in [0, 1].
	ExpiryWindowJitterFrac float64
	// NegativeCacheTTL is how long a failed AssumeRole is remembered: the
	// error is returned again without calling STS. Default 30s. The
	// caller's own context cancellation is never cached.
	NegativeCacheTTL time.Duration
	// RecheckInterval is how often Run re-reads the revisions of cached
	// integrations, in case an invalidation message was missed. Default
	// 30s.
	RecheckInterval time.Duration
	// IdleTTL drops cache entries not used for this long. Default 1h.
	IdleTTL time.Duration
	// SourceIdentity is passed as sts:SourceIdentity (2–64 characters of
	// letters, digits and +=,.@_-; not starting with "aws:"). Default
	// "s3ingest".
	SourceIdentity string
	// SessionNamePrefix starts every RoleSessionName; the sanitised
	// workspace ID follows. Default "s3ingest-"; at most 32 characters of
	// letters, digits and +=,.@_-.
	SessionNamePrefix string
	// DisableSourceIdentity stops passing sts:SourceIdentity (for roles
	// whose trust policy does not allow sts:SetSourceIdentity). Default
	// false: SourceIdentity is passed.
	DisableSourceIdentity bool
	// Logger receives resolution events (never secrets). Default: none.
	Logger *zap.Logger
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// withDefaults validates c and fills in defaults; errors name the field.
func (c ResolverConfig) withDefaults() (ResolverConfig, error) {
	if c.Store == nil {
		return c, invalid("ResolverConfig.Store", "is required")
	}
	if c.SessionDuration == 0 {
		c.SessionDuration = DefaultSessionDuration
	}
	if c.SessionDuration < 15*time.Minute || c.SessionDuration > 12*time.Hour {
		return c, invalid("ResolverConfig.SessionDuration", "%v must be between 15m and 12h", c.SessionDuration)
	}
	if c.SessionDuration%time.Second != 0 {
		return c, invalid("ResolverConfig.SessionDuration", "%v must be a whole number of seconds", c.SessionDuration)
	}
	if c.ExpiryWindow == 0 {
		c.ExpiryWindow = DefaultExpiryWindow
	}
	if c.ExpiryWindow < 0 || c.ExpiryWindow >= c.SessionDuration {
		return c, invalid("ResolverConfig.ExpiryWindow", "%v must be positive and smaller than SessionDuration (%v)", c.ExpiryWindow, c.SessionDuration)
	}
	if c.ExpiryWindowJitterFrac < 0 || c.ExpiryWindowJitterFrac > 1 {
		return c, invalid("ResolverConfig.ExpiryWindowJitterFrac", "%v must be between 0 and 1", c.ExpiryWindowJitterFrac)
	}
	if c.NegativeCacheTTL == 0 {
		c.NegativeCacheTTL = DefaultNegativeCacheTTL
	}
	if c.NegativeCacheTTL < 0 {
		return c, invalid("ResolverConfig.NegativeCacheTTL", "%v must not be negative", c.NegativeCacheTTL)
	}
	if c.RecheckInterval == 0 {
		c.RecheckInterval = DefaultRecheckInterval
	}
	if c.RecheckInterval < 0 {
		return c, invalid("ResolverConfig.RecheckInterval", "%v must not be negative", c.RecheckInterval)
	}
	if c.IdleTTL == 0 {
		c.IdleTTL = DefaultIdleTTL
	}
	if c.IdleTTL < 0 {
		return c, invalid("ResolverConfig.IdleTTL", "%v must not be negative", c.IdleTTL)
	}
	if c.SourceIdentity == "" {
		c.SourceIdentity = DefaultSourceIdentity
	}
	if len(c.SourceIdentity) < 2 || !validIAMName(c.SourceIdentity, 64) || strings.HasPrefix(strings.ToLower(c.SourceIdentity), "aws:") {
		return c, invalid("ResolverConfig.SourceIdentity", "%q must be 2-64 characters of letters, digits and +=,.@_-", c.SourceIdentity)
	}
	if c.SessionNamePrefix == "" {
		c.SessionNamePrefix = DefaultSessionNamePrefix
	}
	if !validIAMName(c.SessionNamePrefix, 32) {
		return c, invalid("ResolverConfig.SessionNamePrefix", "%q must be 1-32 characters of letters, digits and +=,.@_-", c.SessionNamePrefix)
	}
	if c.STSRegion == "" {
		c.STSRegion = DefaultSTSRegion
	}
	if c.STSEndpoint != "" {
		if err := ValidateEndpoint(c.STSEndpoint); err != nil {
			return c, invalid("ResolverConfig.STSEndpoint", "%v", err)
		}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

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

// ---- cache entries ----------------------------------------------------------

const (
	stateLive       int32 = iota
	stateSuperseded       // role or External ID changed: follow next
	stateRemoved          // integration removed: fail
	stateEvicted          // dropped while idle: resolve again
)

// entry caches the credentials of one (workspace, role ARN, External ID).
type entry struct {
	workspaceID, roleARN, externalID, userARN string

	rev      atomic.Pointer[string]
	state    atomic.Int32
	next     atomic.Pointer[entry] // set when superseded
	lastUsed atomic.Int64          // unix nanoseconds
	cache    *aws.CredentialsCache
}

func (e *entry) revision() string       { return *e.rev.Load() }
func (e *entry) setRevision(rev string) { e.rev.Store(&rev) }

func (r *Resolver) newEntry(integ *Integration) *entry {
	e := &entry{workspaceID: integ.WorkspaceID, roleARN: integ.RoleARN, externalID: integ.ExternalID, userARN: integ.UserARN}
	e.setRevision(integ.Revision)
	e.lastUsed.Store(r.cfg.Now().UnixNano())
	src := &assumeSource{r: r, e: e}
	e.cache = aws.NewCredentialsCache(src, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = r.cfg.ExpiryWindow
		o.ExpiryWindowJitterFrac = r.cfg.ExpiryWindowJitterFrac
	})
	return e
}

// assumeSource is the provider behind an entry's CredentialsCache: it
// calls AssumeRole, remembers failures for NegativeCacheTTL, and while STS
// is transiently failing keeps serving the previous credentials as long as
// they are still valid.
type assumeSource struct {
	r *Resolver
	e *entry

	mu       sync.Mutex
	failErr  *AssumeRoleError
	failTill time.Time
	last     aws.Credentials
}

// Retrieve implements aws.CredentialsProvider. The CredentialsCache above
// it serialises calls.
func (s *assumeSource) Retrieve(ctx context.Context) (aws.Credentials, error) {
	now := s.r.cfg.Now()
	s.mu.Lock()
	if s.failErr != nil && now.Before(s.failTill) {
		cached := *s.failErr
		cached.Cached = true
		last := s.last
		s.mu.Unlock()
		if cached.Transient() && stillValid(last, now) {
			return last, nil
		}
		return aws.Credentials{}, &cached
	}
	s.mu.Unlock()

	creds, err := s.r.assumeRole(ctx, s.e.workspaceID, s.e.roleARN, s.e.externalID, s.e.userARN)
	if err != nil {
		are := err.(*AssumeRoleError)
		log := s.r.log.With(zap.String("workspace_id", s.e.workspaceID), zap.String("role_arn", s.e.roleARN),
			zap.String("cause", string(are.Cause)), zap.String("code", are.Code))
		if are.Cause == CauseCanceled && ctx.Err() != nil {
			return aws.Credentials{}, err // the caller gave up: not STS's answer, not cached
		}
		s.mu.Lock()
		s.failErr, s.failTill = are, now.Add(s.r.cfg.NegativeCacheTTL)
		last := s.last
		s.mu.Unlock()
		if are.Transient() && stillValid(last, now) {
			log.Warn("credstore: AssumeRole refresh failed, using still-valid credentials", zap.Time("expires", last.Expires))
			return last, nil
		}
		log.Warn("credstore: AssumeRole failed", zap.Bool("transient", are.Transient()))
		return aws.Credentials{}, err
	}
	s.mu.Lock()
	s.failErr, s.last = nil, creds
	s.mu.Unlock()
	s.r.log.Info("credstore: AssumeRole succeeded", zap.String("workspace_id", s.e.workspaceID),
		zap.String("role_arn", s.e.roleARN), zap.Time("expires", creds.Expires))
	return creds, nil
}

// stillValid reports whether creds remain usable for at least a minute.
func stillValid(c aws.Credentials, now time.Time) bool {
	return c.AccessKeyID != "" && c.Expires.Sub(now) > time.Minute
}

// integrationProvider is the aws.CredentialsProvider handed out by
// Resolve. It follows its entry to a replacement when the integration's
// role or External ID changed, and fails once the integration is removed.
type integrationProvider struct {
	r  *Resolver
	ws string
	e  atomic.Pointer[entry]
}

func newIntegrationProvider(r *Resolver, e *entry) *integrationProvider {
	p := &integrationProvider{r: r, ws: e.workspaceID}
	p.e.Store(e)
	return p
}

// Retrieve implements aws.CredentialsProvider.
func (p *integrationProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	e := p.e.Load()
	for range 64 {
		switch e.state.Load() {
		case stateLive:
			e.lastUsed.Store(p.r.cfg.Now().UnixNano())
			return e.cache.Retrieve(ctx)
		case stateSuperseded:
			if n := e.next.Load(); n != nil {
				e = n
				p.e.Store(e)
				continue
			}
		case stateEvicted:
			n, err := p.r.integrationEntry(ctx, p.ws)
			if err != nil {
				return aws.Credentials{}, err
			}
			e = n
			p.e.Store(e)
			continue
		}
		return aws.Credentials{}, fmt.Errorf("workspace %s: %w; its credentials can no longer be used (create a new integration)", p.ws, ErrIntegrationRemoved)
	}
	return aws.Credentials{}, fmt.Errorf("workspace %s: integration changed too often; retry", p.ws)
}
