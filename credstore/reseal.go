package credstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// KeyUpdate is a new key pair for a stored credential instance (a key
// rotated at the customer's side). SessionToken may be empty.
type KeyUpdate struct {
	AccessKeyID     string
	SecretAccessKey Secret
	SessionToken    Secret
}

// updateCredentialScript replaces a credential's keys if the record still
// exists: KEYS[1] the record; ARGV: field/value pairs to set, then "--",
// then fields to delete.
var updateCredentialScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOTFOUND')
end
local del = false
for i = 1, #ARGV, 1 do
  if ARGV[i] == '--' then del = true
  elseif del then redis.call('HDEL', KEYS[1], ARGV[i])
  elseif i % 2 == 1 then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
  end
end
return 1
`)

// UpdateCredential replaces the access key pair (and session token) of a
// stored credential instance in place: its ID, name, region and endpoint
// stay, so jobs and schedules that name it use the new keys from their
// next resolution. The secrets are sealed under the current key. Errors:
// *ValidationError naming the field, ErrNotFound, ErrSecretKeyMissing.
func (s *Store) UpdateCredential(ctx context.Context, workspaceID, id string, up KeyUpdate) (*Credential, error) {
	c, _, err := s.loadCredential(ctx, workspaceID, id)
	if err != nil {
		return nil, err
	}
	in := CredentialInput{Name: c.Name, AccessKeyID: up.AccessKeyID, SecretAccessKey: up.SecretAccessKey,
		SessionToken: up.SessionToken, Region: c.Region, Endpoint: c.Endpoint}
	if err := in.validate(); err != nil {
		return nil, err
	}
	if s.keys == nil {
		return nil, ErrSecretKeyMissing
	}
	sealedSecret, err := s.keys.Seal([]byte(in.SecretAccessKey), aad(workspaceID, "cred", id, fSecret))
	if err != nil {
		return nil, err
	}
	args := []any{fAccessKeyID, in.AccessKeyID, fSecret, sealedSecret, fKeyID, s.keys.CurrentKeyID()}
	if in.SessionToken != "" {
		sealedToken, err := s.keys.Seal([]byte(in.SessionToken), aad(workspaceID, "cred", id, fSessionToken))
		if err != nil {
			return nil, err
		}
		args = append(args, fSessionToken, sealedToken, "--")
	} else {
		args = append(args, "--", fSessionToken)
	}
	if err := scriptError(updateCredentialScript.Run(ctx, s.rdb, []string{s.credKey(workspaceID, id)}, args...).Err()); err != nil {
		if err == ErrNotFound {
			return nil, notFoundCredential(workspaceID, id)
		}
		return nil, fmt.Errorf("update credential: %w", err)
	}
	c.AccessKeyID, c.HasSessionToken, c.KeyID = in.AccessKeyID, in.SessionToken != "", s.keys.CurrentKeyID()
	return c, nil
}

// ResealReport says what Reseal did.
type ResealReport struct {
	// Scanned is the number of credential records read.
	Scanned int `json:"scanned"`
	// Resealed is the number re-sealed under the current key.
	Resealed int `json:"resealed"`
	// Current is the ID of the key everything is now sealed with.
	Current string `json:"current_key_id"`
}

// resealScript swaps a record's sealed fields only if they are unchanged
// since they were read (a concurrent update wins): KEYS[1] the record;
// ARGV: triples of field, old sealed value, new sealed value; then the
// key-ID field and its new value as the last two.
var resealScript = redis.NewScript(`
local n = #ARGV - 2
for i = 1, n, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i+1] then return 0 end
end
for i = 1, n, 3 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+2]) end
redis.call('HSET', KEYS[1], ARGV[n+1], ARGV[n+2])
return 1
`)

// Reseal re-seals every stored credential secret that was sealed with a
// key other than the keyring's current one, so older keys can then be
// removed from S3INGEST_SECRET_KEY. It is safe to run while ingestd runs
// (a record changed meanwhile is skipped and picked up by running Reseal
// again) and idempotent. It stops at the first record it cannot open
// (e.g. sealed with a key the keyring no longer holds), naming it.
func (s *Store) Reseal(ctx context.Context) (ResealReport, error) {
	rep := ResealReport{}
	if s.keys == nil {
		return rep, ErrSecretKeyMissing
	}
	rep.Current = s.keys.CurrentKeyID()
	match := s.prefix + ":ws:{*}:cred:*"
	iter := s.rdb.Scan(ctx, 0, match, 500).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		h, err := s.rdb.HGetAll(ctx, key).Result()
		if err != nil {
			return rep, fmt.Errorf("reseal: read %s: %w", key, err)
		}
		if len(h) == 0 || h[fID] == "" || !strings.HasSuffix(key, ":cred:"+h[fID]) {
			continue // gone meanwhile, or not a credential record
		}
		rep.Scanned++
		var args []any
		for _, f := range []string{fSecret, fSessionToken} {
			sealed := h[f]
			if sealed == "" || !s.keys.NeedsReseal(sealed) {
				continue
			}
			a := aad(h[fWorkspace], "cred", h[fID], f)
			pt, err := s.keys.Open(sealed, a)
			if err != nil {
				return rep, fmt.Errorf("reseal: credential %s of workspace %s: %s: %w", h[fID], h[fWorkspace], f, err)
			}
			resealed, err := s.keys.Seal(pt, a)
			clear(pt)
			if err != nil {
				return rep, err
			}
			args = append(args, f, sealed, resealed)
		}
		if len(args) == 0 && h[fKeyID] == rep.Current {
			continue
		}
		args = append(args, fKeyID, rep.Current)
		ok, err := resealScript.Run(ctx, s.rdb, []string{key}, args...).Int()
		if err != nil {
			return rep, fmt.Errorf("reseal: write %s: %w", key, err)
		}
		if ok == 1 {
			rep.Resealed++
		}
	}
	if err := iter.Err(); err != nil {
		return rep, fmt.Errorf("reseal: scan: %w", err)
	}
	return rep, nil
}
