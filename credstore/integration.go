package credstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zapcore"
)

// ExternalIDLength is the length of generated External IDs: 40 hex
// characters (160 bits from crypto/rand).
const ExternalIDLength = 40

// Integration is a workspace's AWS integration: the customer's role, the
// External ID we generated for it and the platform principal it trusts.
//
// Rotation with overlap: RotateExternalID sets NextExternalID; jobs keep
// using ExternalID (the one the customer's trust policy is known to
// accept) while the customer adds the new one to the trust policy;
// FinishRotation makes NextExternalID the ExternalID and retires the old
// one. TrustedExternalIDs lists what the trust policy must accept.
type Integration struct {
	// WorkspaceID owns the integration.
	WorkspaceID string `json:"workspace_id"`
	// RoleARN is the customer's role, "" while the integration is pending.
	RoleARN string `json:"role_arn,omitempty"`
	// ExternalID is the External ID that jobs pass to sts:AssumeRole.
	ExternalID string `json:"external_id"`
	// NextExternalID is the new External ID during a rotation, else "".
	NextExternalID string `json:"next_external_id,omitempty"`
	// UserARN is the platform principal the trust policy must name.
	UserARN string `json:"user_arn"`
	// CreatedAt is when the integration was created.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when it last changed.
	UpdatedAt time.Time `json:"updated_at"`
	// RotationStartedAt is when the current rotation began (zero if none).
	RotationStartedAt time.Time `json:"rotation_started_at,omitzero"`
	// Revision changes (randomly) on every write; resolvers compare it to
	// notice changes cheaply.
	Revision string `json:"revision"`
}

// Pending reports whether the integration has no role ARN yet.
func (i *Integration) Pending() bool { return i.RoleARN == "" }

// Rotating reports whether an External ID rotation is in progress.
func (i *Integration) Rotating() bool { return i.NextExternalID != "" }

// NewestExternalID is the External ID that verification should test: the
// next one during a rotation, else the current one.
func (i *Integration) NewestExternalID() string {
	if i.NextExternalID != "" {
		return i.NextExternalID
	}
	return i.ExternalID
}

// TrustedExternalIDs lists the External IDs the role's trust policy must
// accept: the current one, and the next one during a rotation.
func (i *Integration) TrustedExternalIDs() []string {
	if i.NextExternalID != "" {
		return []string{i.ExternalID, i.NextExternalID}
	}
	return []string{i.ExternalID}
}

// Partition returns the partition of the role ARN ("aws" while pending).
func (i *Integration) Partition() string {
	if r, err := ParseRoleARN(i.RoleARN); err == nil {
		return r.Partition
	}
	return "aws"
}

// TrustPolicy renders the trust policy the customer's role needs.
func (i *Integration) TrustPolicy() ([]byte, error) {
	return TrustPolicy(i.UserARN, i.TrustedExternalIDs()...)
}

// MarshalLogObject implements zapcore.ObjectMarshaler.
func (i *Integration) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("workspace_id", i.WorkspaceID)
	enc.AddString("role_arn", i.RoleARN)
	enc.AddString("user_arn", i.UserARN)
	enc.AddBool("rotating", i.Rotating())
	return nil
}

// integration hash fields.
const (
	fRoleARN           = "role_arn"
	fExternalID        = "external_id"
	fNextExternalID    = "next_external_id"
	fUserARN           = "user_arn"
	fUpdatedAt         = "updated_at"
	fRotationStartedAt = "rotation_started_at"
	fRevision          = "revision"
)

// GenerateExternalID returns a new External ID: ExternalIDLength hex
// characters from crypto/rand.
func GenerateExternalID() string { return randomHex(ExternalIDLength / 2) }

// ValidateExternalID checks an External ID against STS's rules: 2–1224
// characters of letters, digits and +=,.@:/_-.
func ValidateExternalID(id string) error {
	if id == "" {
		return invalid("external_id", "is empty")
	}
	if len(id) < 2 || len(id) > 1224 {
		return invalid("external_id", "must be 2-1224 characters, got %d", len(id))
	}
	for _, r := range id {
		if !isIAMNameRune(r) && r != ':' && r != '/' {
			return invalid("external_id", "contains %q: only letters, digits and +=,.@:/_- are allowed", r)
		}
	}
	return nil
}

// Lua scripts for integrations. Each is atomic, publishes the workspace
// ID on the invalidation channel and returns the record (HGETALL).
// KEYS[1] = the integration hash. ARGV[1] = channel, ARGV[2] = workspace.
var (
	createIntegrationScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('S3I_EXISTS') end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PUBLISH', ARGV[1], ARGV[2])
return redis.call('HGETALL', KEYS[1])
`)
	// ARGV[3..] = field/value pairs to set.
	updateIntegrationScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('S3I_NOTFOUND') end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PUBLISH', ARGV[1], ARGV[2])
return redis.call('HGETALL', KEYS[1])
`)
	// ARGV[3] = new External ID, ARGV[4] = revision, ARGV[5] = now.
	rotateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('S3I_NOTFOUND') end
local n = redis.call('HGET', KEYS[1], 'next_external_id')
if n and n ~= '' then return redis.error_reply('S3I_ROTATING') end
redis.call('HSET', KEYS[1], 'next_external_id', ARGV[3], 'revision', ARGV[4], 'updated_at', ARGV[5], 'rotation_started_at', ARGV[5])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return redis.call('HGETALL', KEYS[1])
`)
	// ARGV[3] = "finish" or "cancel", ARGV[4] = revision, ARGV[5] = now.
	endRotationScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('S3I_NOTFOUND') end
local n = redis.call('HGET', KEYS[1], 'next_external_id')
if not n or n == '' then return redis.error_reply('S3I_NOROTATION') end
if ARGV[3] == 'finish' then redis.call('HSET', KEYS[1], 'external_id', n) end
redis.call('HDEL', KEYS[1], 'next_external_id', 'rotation_started_at')
redis.call('HSET', KEYS[1], 'revision', ARGV[4], 'updated_at', ARGV[5])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return redis.call('HGETALL', KEYS[1])
`)
	removeIntegrationScript = redis.NewScript(`
if redis.call('DEL', KEYS[1]) == 0 then return redis.error_reply('S3I_NOTFOUND') end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`)
)

func noIntegration(workspaceID string) error {
	return fmt.Errorf("workspace %s has no AWS integration: %w (create an AWS integration for the workspace first)", workspaceID, ErrNotFound)
}

// CreateIntegration creates the workspace's integration. roleARN may be
// empty for the pending form (attach it later with SetRole). It generates
// a new External ID and records the platform's User ARN. Errors:
// *ValidationError (workspace), *ARNError (role ARN), ErrExists when the
// workspace already has one (at most one per workspace, enforced
// atomically), or the User ARN lookup's error; nothing is written on error.
func (s *Store) CreateIntegration(ctx context.Context, workspaceID, roleARN string) (*Integration, error) {
	if err := ValidateWorkspaceID(workspaceID); err != nil {
		return nil, err
	}
	roleARN = strings.TrimSpace(roleARN)
	if roleARN != "" {
		r, err := ParseRoleARN(roleARN)
		if err != nil {
			return nil, err
		}
		roleARN = r.String()
	}
	userARN, err := s.PlatformARN(ctx)
	if err != nil {
		return nil, err
	}
	now := s.timestamp(s.now())
	args := []any{s.InvalidationChannel(), workspaceID,
		fWorkspace, workspaceID, fExternalID, GenerateExternalID(), fUserARN, userARN,
		fCreatedAt, now, fUpdatedAt, now, fRevision, randomHex(16)}
	if roleARN != "" {
		args = append(args, fRoleARN, roleARN)
	}
	res, err := createIntegrationScript.Run(ctx, s.rdb, []string{s.integrationKey(workspaceID)}, args...).Result()
	if err = scriptError(err); err != nil {
		if errors.Is(err, ErrExists) {
			return nil, fmt.Errorf("workspace %s already has an AWS integration: %w (use the existing one, or remove it first to create a new one, which gets a new External ID)", workspaceID, ErrExists)
		}
		return nil, fmt.Errorf("create integration: %w", err)
	}
	return integrationFromReply(workspaceID, res)
}

// GetIntegration returns the workspace's integration, or an error
// wrapping ErrNotFound.
func (s *Store) GetIntegration(ctx context.Context, workspaceID string) (*Integration, error) {
	if err := ValidateWorkspaceID(workspaceID); err != nil {
		return nil, err
	}
	h, err := s.rdb.HGetAll(ctx, s.integrationKey(workspaceID)).Result()
	if err != nil {
		return nil, fmt.Errorf("read integration: %w", err)
	}
	if len(h) == 0 {
		return nil, noIntegration(workspaceID)
	}
	return integrationFromHash(workspaceID, h)
}

// integrationRevision returns the record's revision, or redis.Nil when
// the workspace has no integration. One HGET: cheap enough for every
// Resolve.
func (s *Store) integrationRevision(ctx context.Context, workspaceID string) (string, error) {
	return s.rdb.HGet(ctx, s.integrationKey(workspaceID), fRevision).Result()
}

// SetRole attaches (or replaces) the role ARN of the workspace's
// integration, keeping its External ID. Resolvers drop cached credentials
// of the old role.
func (s *Store) SetRole(ctx context.Context, workspaceID, roleARN string) (*Integration, error) {
	if err := ValidateWorkspaceID(workspaceID); err != nil {
		return nil, err
	}
	r, err := ParseRoleARN(roleARN)
	if err != nil {
		return nil, err
	}
	now := s.timestamp(s.now())
	return s.runUpdate(ctx, updateIntegrationScript, workspaceID, fRoleARN, r.String(), fRevision, randomHex(16), fUpdatedAt, now)
}

// RotateExternalID starts an External ID rotation: it generates
// NextExternalID while jobs keep using ExternalID. Print the trust policy
// (which then accepts both), have the customer apply it, verify with
// NewestExternalID, then call FinishRotation. Errors wrap ErrNotFound or
// ErrRotationInProgress.
func (s *Store) RotateExternalID(ctx context.Context, workspaceID string) (*Integration, error) {
	if err := ValidateWorkspaceID(workspaceID); err != nil {
		return nil, err
	}
	return s.runUpdate(ctx, rotateScript, workspaceID, GenerateExternalID(), randomHex(16), s.timestamp(s.now()))
}

// FinishRotation makes NextExternalID the External ID jobs use and retires
// the old one (the customer may then drop it from the trust policy). Call
// it only after verification passed with the new ID. Errors wrap
// ErrNotFound or ErrNoRotation.
func (s *Store) FinishRotation(ctx context.Context, workspaceID string) (*Integration, error) {
	if err := ValidateWorkspaceID(workspaceID); err != nil {
		return nil, err
	}
	return s.runUpdate(ctx, endRotationScript, workspaceID, "finish", randomHex(16), s.timestamp(s.now()))
}

// CancelRotation abandons a rotation, discarding NextExternalID. Errors
// wrap ErrNotFound or ErrNoRotation.
func (s *Store) CancelRotation(ctx context.Context, workspaceID string) (*Integration, error) {
	if err := ValidateWorkspaceID(workspaceID); err != nil {
		return nil, err
	}
	return s.runUpdate(ctx, endRotationScript, workspaceID, "cancel", randomHex(16), s.timestamp(s.now()))
}

func (s *Store) runUpdate(ctx context.Context, script *redis.Script, workspaceID string, argv ...any) (*Integration, error) {
	args := append([]any{s.InvalidationChannel(), workspaceID}, argv...)
	res, err := script.Run(ctx, s.rdb, []string{s.integrationKey(workspaceID)}, args...).Result()
	if err = scriptError(err); err != nil {
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, noIntegration(workspaceID)
		case errors.Is(err, ErrRotationInProgress):
			return nil, fmt.Errorf("workspace %s: %w (finish or cancel it first)", workspaceID, ErrRotationInProgress)
		case errors.Is(err, ErrNoRotation):
			return nil, fmt.Errorf("workspace %s: %w (start a rotation first)", workspaceID, ErrNoRotation)
		}
		return nil, fmt.Errorf("update integration: %w", err)
	}
	return integrationFromReply(workspaceID, res)
}

// RemoveIntegration deletes the workspace's integration and tells every
// resolver to drop its cached credentials; providers already handed out
// fail with ErrIntegrationRemoved. A later CreateIntegration gets a new
// External ID. Errors wrap ErrNotFound.
func (s *Store) RemoveIntegration(ctx context.Context, workspaceID string) error {
	if err := ValidateWorkspaceID(workspaceID); err != nil {
		return err
	}
	err := removeIntegrationScript.Run(ctx, s.rdb, []string{s.integrationKey(workspaceID)}, s.InvalidationChannel(), workspaceID).Err()
	if err = scriptError(err); err != nil {
		if errors.Is(err, ErrNotFound) {
			return noIntegration(workspaceID)
		}
		return fmt.Errorf("remove integration: %w", err)
	}
	return nil
}

func integrationFromReply(workspaceID string, res any) (*Integration, error) {
	list, ok := res.([]any)
	if !ok || len(list)%2 != 0 {
		return nil, fmt.Errorf("integration of workspace %s: unexpected script reply %T", workspaceID, res)
	}
	h := make(map[string]string, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		k, _ := list[i].(string)
		v, _ := list[i+1].(string)
		h[k] = v
	}
	return integrationFromHash(workspaceID, h)
}

func integrationFromHash(workspaceID string, h map[string]string) (*Integration, error) {
	i := &Integration{
		WorkspaceID:    h[fWorkspace],
		RoleARN:        h[fRoleARN],
		ExternalID:     h[fExternalID],
		NextExternalID: h[fNextExternalID],
		UserARN:        h[fUserARN],
		Revision:       h[fRevision],
	}
	if i.WorkspaceID != workspaceID || i.ExternalID == "" || i.UserARN == "" || i.Revision == "" {
		return nil, fmt.Errorf("integration of workspace %s: %w: missing workspace, External ID, User ARN or revision (remove it and create it again)", workspaceID, ErrCorruptRecord)
	}
	for f, dst := range map[string]*time.Time{fCreatedAt: &i.CreatedAt, fUpdatedAt: &i.UpdatedAt, fRotationStartedAt: &i.RotationStartedAt} {
		if v := h[f]; v != "" {
			if t, err := parseTimestamp(v); err == nil {
				*dst = t
			}
		}
	}
	return i, nil
}
