package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/source"
)

// envAllowPrivate lets credential endpoints be internal addresses, as in
// ingestd.
const envAllowPrivate = "S3INGEST_ALLOW_PRIVATE_ENDPOINTS"

// errStopListing ends the listing after the first object.
var errStopListing = errors.New("seen one object")

// credTestResult is what `credential test` saw, for --json.
type credTestResult struct {
	OK           bool   `json:"ok"`
	WorkspaceID  string `json:"workspace_id"`
	CredentialID string `json:"credential_id"`
	Name         string `json:"name"`
	AccessKeyID  string `json:"access_key_id"`
	Endpoint     string `json:"endpoint,omitempty"`
	Region       string `json:"region,omitempty"`
	Bucket       string `json:"bucket"`
	Prefix       string `json:"prefix,omitempty"`
	// FirstKey is the first object listed ("" when none).
	FirstKey  string `json:"first_key,omitempty"`
	FirstSize int64  `json:"first_size,omitempty"`
	// Kind, Cause and Fix describe a failure.
	Kind  string `json:"kind,omitempty"`
	Cause string `json:"cause,omitempty"`
	Fix   string `json:"fix,omitempty"`
}

// credTestError is the failure of `credential test` (its report is
// printed already).
type credTestError struct {
	res       credTestResult
	transient bool
}

func (e *credTestError) Error() string {
	return fmt.Sprintf("credential %s cannot list s3://%s/%s: %s", e.res.CredentialID, e.res.Bucket, e.res.Prefix, e.res.Cause)
}

func newCredentialTestCmd(a *app) *cobra.Command {
	var (
		workspace, id, name, bucket, prefix string
		timeout                             time.Duration
	)
	cmd := &cobra.Command{
		Use:   "test --workspace W (--id ID | --name N) --bucket B [--prefix P]",
		Short: "list one object with a credential instance, as ingestd would; say the cause and the fix when it fails",
		Long: `Resolve a stored credential instance and run one ListObjectsV2 (at most one
key) on the bucket and prefix, against its endpoint and region (AWS when it has
no endpoint: S3INGEST_S3_ENDPOINT and S3INGEST_S3_REGION when set, as ingestd).
Prints what it saw, or the cause and the fix; exits non-zero on failure.

As in ingestd, an endpoint that resolves to a loopback, private, link-local or
other internal address is refused unless S3INGEST_ALLOW_PRIVATE_ENDPOINTS=true.
Needs S3INGEST_SECRET_KEY (the secret is unsealed here).`,
		Example: `  ingestctl credential test --workspace ws1 --name minio --bucket exports --prefix 2024/`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkSelector(workspace, id, name); err != nil {
				return err
			}
			if bucket == "" {
				return errors.New("--bucket is required")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			s, err := openCredStore(ctx, a, true)
			if err != nil {
				return err
			}
			credID, err := credentialID(cmd, s, workspace, id, name)
			if err != nil {
				return err
			}
			c, err := s.GetCredential(ctx, workspace, credID)
			if err != nil {
				return err
			}
			r, err := a.newResolver(s)
			if err != nil {
				return err
			}
			resolved, err := r.Resolve(ctx, workspace, credID)
			if err != nil {
				return err
			}
			allowPrivate, err := allowPrivateEndpoints()
			if err != nil {
				return err
			}
			opt := source.Options{Region: resolved.Region, Endpoint: resolved.Endpoint, ListPageSize: 1, RetryMaxAttempts: 2}
			if opt.Endpoint != "" {
				if !allowPrivate {
					opt.HTTPClient = worker.PublicOnlyHTTPClient()
				}
			} else if ep := strings.TrimSpace(os.Getenv(envS3Endpoint)); ep != "" {
				// The operator's own endpoint is trusted, as in ingestd.
				opt.Endpoint = ep
				if opt.Region == "" {
					opt.Region = strings.TrimSpace(os.Getenv(envS3Region))
				}
			}
			if c.HasSessionToken {
				opt.FixedCredentials = "credential " + c.ID
			}
			res := credTestResult{WorkspaceID: workspace, CredentialID: c.ID, Name: c.Name, AccessKeyID: c.AccessKeyID,
				Endpoint: opt.Endpoint, Region: opt.Region, Bucket: bucket, Prefix: prefix}
			src := source.New(resolved.Provider, opt)
			err = src.List(ctx, bucket, prefix, "", func(o source.ObjectInfo) error {
				res.FirstKey, res.FirstSize = o.Key, o.Size
				return errStopListing
			})
			var fail *credTestError
			if err != nil && !errors.Is(err, errStopListing) {
				cl := source.Classify(err)
				res.Kind, res.Cause, res.Fix = string(cl.Kind), cl.Message, cl.Fix
				if !cl.Permanent {
					res.Fix = "this looks transient (" + string(cl.Kind) + "): test again; if it persists: " + cl.Fix
				}
				fail = &credTestError{res: res, transient: !cl.Permanent}
			} else {
				res.OK = true
			}
			if a.asJSON {
				if err := a.printJSON(res); err != nil {
					return err
				}
			} else {
				a.printCredTest(res)
			}
			if fail != nil {
				return fail
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspace, "workspace", "", "workspace ID (required)")
	f.StringVar(&id, "id", "", "credential ID")
	f.StringVar(&name, "name", "", "credential name")
	f.StringVar(&bucket, "bucket", "", "bucket to list (required)")
	f.StringVar(&prefix, "prefix", "", "key prefix to list")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "how long the test may take")
	return cmd
}

// printCredTest prints the outcome of `credential test` for people.
func (a *app) printCredTest(r credTestResult) {
	where := "AWS"
	if r.Endpoint != "" {
		where = r.Endpoint
	}
	if r.Region != "" {
		where += " (region " + r.Region + ")"
	}
	a.printf("credential %s (%s) of workspace %s, access key ID %s, at %s\n", r.CredentialID, r.Name, r.WorkspaceID, r.AccessKeyID, where)
	url := "s3://" + r.Bucket + "/" + r.Prefix
	switch {
	case !r.OK:
		a.printf("FAILED: ListObjectsV2 on %s\n  cause: %s\n", url, r.Cause)
		if r.Fix != "" {
			a.printf("  fix:   %s\n", r.Fix)
		}
	case r.FirstKey == "":
		a.printf("OK: listing %s is allowed; it holds no objects\n", url)
	default:
		a.printf("OK: listed %s; first object %s (%s)\n", url, r.FirstKey, formatBytes(r.FirstSize))
	}
}

// allowPrivateEndpoints reads S3INGEST_ALLOW_PRIVATE_ENDPOINTS as ingestd
// does.
func allowPrivateEndpoints() (bool, error) {
	v := strings.TrimSpace(os.Getenv(envAllowPrivate))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", envAllowPrivate, v)
	}
	return b, nil
}

// credentialHint is cliHint's advice for a failed `credential test`
// ("" when the fix printed with the report says it all).
func credentialHint(e *credTestError) string {
	ws, id := e.res.WorkspaceID, e.res.CredentialID
	switch source.Kind(e.res.Kind) {
	case source.KindCredentials, source.KindExpiredToken:
		return fmt.Sprintf("store the current key pair with `ingestctl credential update --workspace %s --id %s --access-key-id KEY --secret-stdin`", ws, id)
	case source.KindWrongRegion:
		return fmt.Sprintf("a credential's region is set when it is added: remove it with `ingestctl credential remove --workspace %s --id %s` and add it again with the right --region", ws, id)
	}
	return ""
}
