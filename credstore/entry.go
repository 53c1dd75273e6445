package credstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.uber.org/zap"
)

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
	src := &assumeSource{r: r, e: e, assume: r.newAssumeProvider(e.workspaceID, e.roleARN, e.externalID, e.userARN)}
	e.cache = aws.NewCredentialsCache(src, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = r.cfg.ExpiryWindow
		o.ExpiryWindowJitterFrac = r.cfg.ExpiryWindowJitterFrac
	})
	return e
}

// assumeSource is the provider behind an entry's CredentialsCache: it
// calls AssumeRole (through stscreds, see assumeProvider), remembers
// failures for NegativeCacheTTL, and while STS is transiently failing keeps
// serving the previous credentials as long as they are still valid.
type assumeSource struct {
	r      *Resolver
	e      *entry
	assume *assumeProvider

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

	creds, err := s.assume.Retrieve(ctx)
	if err != nil {
		var are *AssumeRoleError
		if !errors.As(err, &are) {
			return aws.Credentials{}, err // not an STS answer: nothing to cache
		}
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
