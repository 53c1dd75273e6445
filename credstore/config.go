package credstore

import (
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.uber.org/zap"
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
