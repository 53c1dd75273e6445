package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/credstore"
)

// platformResolver builds the Resolver the app uses by default for the
// AssumeRole checks of `rotate --finish` and `verify --local`: the
// platform's default AWS credentials, STS endpoint from
// S3INGEST_STS_ENDPOINT.
func platformResolver(s *credstore.Store) (*credstore.Resolver, error) {
	return credstore.NewResolver(credstore.ResolverConfig{Store: s, STSEndpoint: strings.TrimSpace(os.Getenv(envSTSEndpoint))})
}

// newIntegrationCmd builds `ingestctl integration create|set-role|show|remove|rotate|verify`.
func newIntegrationCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "integration",
		Short: "manage a workspace's AWS integration (customer role + External ID)",
		Long: `A workspace connects its buckets through one AWS integration: the customer's
IAM role, which trusts the platform's principal (the User ARN) on the condition
sts:ExternalId = an External ID generated here. Jobs that name no credential
instance assume that role.

The User ARN is S3INGEST_PLATFORM_ARN, else the principal of the AWS
credentials this command runs with (sts:GetCallerIdentity).`,
	}
	cmd.AddCommand(
		newIntegrationCreateCmd(a),
		newIntegrationSetRoleCmd(a),
		newIntegrationShowCmd(a),
		newIntegrationRemoveCmd(a),
		newIntegrationRotateCmd(a),
		newIntegrationVerifyCmd(a),
	)
	return cmd
}

// integrationView is the --json form of an integration and its documents.
type integrationView struct {
	Integration      *credstore.Integration `json:"integration"`
	TrustPolicy      json.RawMessage        `json:"trust_policy"`
	PermissionPolicy json.RawMessage        `json:"permission_policy,omitempty"`
}

// integrationDocuments renders the trust policy and, when bucket is set, the
// permission policy for the integration.
func integrationDocuments(integ *credstore.Integration, bucket, prefix string) (trust, perm []byte, err error) {
	if trust, err = integ.TrustPolicy(); err != nil {
		return nil, nil, err
	}
	if bucket != "" {
		if perm, err = credstore.PermissionPolicy(integ.Partition(), credstore.BucketScope{Bucket: bucket, Prefix: prefix}); err != nil {
			return nil, nil, err
		}
	}
	return trust, perm, nil
}

// printIntegration prints an integration, its policy documents and what to
// do next. headline is the first line.
func printIntegration(a *app, headline string, integ *credstore.Integration, bucket, prefix string, steps bool) error {
	trust, perm, err := integrationDocuments(integ, bucket, prefix)
	if err != nil {
		return err
	}
	if a.asJSON {
		v := integrationView{Integration: integ, TrustPolicy: policyJSON(trust)}
		if perm != nil {
			v.PermissionPolicy = policyJSON(perm)
		}
		return a.printJSON(v)
	}
	ws := integ.WorkspaceID
	a.printf("%s\n\n", headline)
	a.printf("  Workspace:    %s\n", ws)
	if integ.Rotating() {
		a.printf("  External ID:  %s (in use)\n", integ.ExternalID)
		a.printf("  New ID:       %s (rotation started %s)\n", integ.NextExternalID, recordTime(integ.RotationStartedAt))
	} else {
		a.printf("  External ID:  %s\n", integ.ExternalID)
	}
	a.printf("  User ARN:     %s\n", integ.UserARN)
	if integ.Pending() {
		a.printf("  Role ARN:     (pending: attach it with `ingestctl integration set-role --workspace %s --role-arn ARN`)\n", ws)
	} else {
		a.printf("  Role ARN:     %s\n", integ.RoleARN)
	}
	a.printf("  Created:      %s\n", recordTime(integ.CreatedAt))

	n := 1
	switch {
	case perm != nil:
		a.printf("\n%d. Permission policy: create an IAM policy with this document (read access to %s):\n\n%s", n, bucketScopeText(bucket, prefix), perm)
		n++
	case steps:
		a.printf("\n%d. Permission policy: print it for your bucket with `ingestctl policy --bucket B [--prefix P]` (or pass --bucket/--prefix here).\n", n)
		n++
	}
	what := "Trust policy: set it as the role's trust policy"
	if integ.Rotating() {
		what = "Trust policy (accepts both External IDs during the rotation): set it as the role's trust policy"
	}
	a.printf("\n%d. %s:\n\n%s", n, what, trust)
	if !steps {
		return nil
	}
	n++
	a.printf("\n%d. Attach the permission policy to the role.", n)
	if integ.Pending() {
		a.printf(" Then: ingestctl integration set-role --workspace %s --role-arn arn:aws:iam::ACCOUNT:role/NAME", ws)
	}
	a.printf("\n%d. Check it: ingestctl integration verify --workspace %s --bucket B [--prefix P]\n", n+1, ws)
	return nil
}

func newIntegrationCreateCmd(a *app) *cobra.Command {
	var workspace, roleARN, bucket, prefix string
	cmd := &cobra.Command{
		Use:   "create --workspace W [--role-arn ARN] [--bucket B [--prefix P]]",
		Short: "create the workspace's integration: generates the External ID, prints both policies",
		Long: `Create the workspace's AWS integration (at most one per workspace). Without
--role-arn it is created pending: the External ID, User ARN and trust policy are
printed so the role can be created first (e.g. by infrastructure-as-code); attach
it later with set-role. --bucket/--prefix fill in the permission policy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workspace == "" {
				return errors.New("--workspace is required")
			}
			if prefix != "" && bucket == "" {
				return errors.New("--prefix needs --bucket")
			}
			if bucket != "" {
				// Check before anything is written.
				if _, err := credstore.PermissionPolicy("aws", credstore.BucketScope{Bucket: bucket, Prefix: prefix}); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			s, err := openCredStore(ctx, a, false)
			if err != nil {
				return err
			}
			integ, err := s.CreateIntegration(ctx, workspace, roleARN)
			if err != nil {
				return err
			}
			head := "AWS integration created."
			if integ.Pending() {
				head = "AWS integration created (pending: no role ARN yet)."
			}
			return printIntegration(a, head, integ, bucket, prefix, true)
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspace, "workspace", "", "workspace ID (required)")
	f.StringVar(&roleARN, "role-arn", "", "the customer's role, arn:aws:iam::ACCOUNT:role/NAME (omit to create a pending integration)")
	f.StringVar(&bucket, "bucket", "", "bucket for the printed permission policy")
	f.StringVar(&prefix, "prefix", "", "key prefix for the printed permission policy")
	return cmd
}

func newIntegrationSetRoleCmd(a *app) *cobra.Command {
	var workspace, roleARN string
	cmd := &cobra.Command{
		Use:   "set-role --workspace W --role-arn ARN",
		Short: "attach (or replace) the role ARN of the workspace's integration; the External ID stays",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workspace == "" {
				return errors.New("--workspace is required")
			}
			if roleARN == "" {
				return errors.New("--role-arn is required")
			}
			ctx := cmd.Context()
			s, err := openCredStore(ctx, a, false)
			if err != nil {
				return err
			}
			integ, err := s.SetRole(ctx, workspace, roleARN)
			if err != nil {
				return err
			}
			if a.asJSON {
				return a.printJSON(integ)
			}
			a.printf("workspace %s now uses role %s (External ID unchanged: %s)\n", workspace, integ.RoleARN, integ.ExternalID)
			a.printf("Check it: ingestctl integration verify --workspace %s --bucket B [--prefix P]\n", workspace)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspace, "workspace", "", "workspace ID (required)")
	f.StringVar(&roleARN, "role-arn", "", "the customer's role ARN (required)")
	return cmd
}

func newIntegrationShowCmd(a *app) *cobra.Command {
	var workspace, bucket, prefix string
	cmd := &cobra.Command{
		Use:   "show --workspace W [--bucket B [--prefix P]]",
		Short: "show the workspace's integration and its trust policy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workspace == "" {
				return errors.New("--workspace is required")
			}
			if prefix != "" && bucket == "" {
				return errors.New("--prefix needs --bucket")
			}
			ctx := cmd.Context()
			s, err := openCredStore(ctx, a, false)
			if err != nil {
				return err
			}
			integ, err := s.GetIntegration(ctx, workspace)
			if err != nil {
				return err
			}
			return printIntegration(a, "AWS integration of workspace "+workspace+":", integ, bucket, prefix, false)
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspace, "workspace", "", "workspace ID (required)")
	f.StringVar(&bucket, "bucket", "", "also print the permission policy for this bucket")
	f.StringVar(&prefix, "prefix", "", "key prefix for the permission policy")
	return cmd
}

func newIntegrationRemoveCmd(a *app) *cobra.Command {
	var workspace string
	cmd := &cobra.Command{
		Use:   "remove --workspace W",
		Short: "delete the workspace's integration; every worker stops using it",
		Long: `Delete the workspace's integration. Every ingestd drops its cached credentials,
and ingests already running with it fail. Creating a new integration afterwards
generates a new External ID (the customer must update the trust policy).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workspace == "" {
				return errors.New("--workspace is required")
			}
			ctx := cmd.Context()
			s, err := openCredStore(ctx, a, false)
			if err != nil {
				return err
			}
			if err := s.RemoveIntegration(ctx, workspace); err != nil {
				return err
			}
			if a.asJSON {
				return a.printJSON(map[string]any{"workspace_id": workspace, "removed": true})
			}
			a.printf("AWS integration of workspace %s removed; workers no longer use it.\n", workspace)
			return nil
		},
	}
	cmd.Flags().StringVar(&workspace, "workspace", "", "workspace ID (required)")
	return cmd
}

func newIntegrationRotateCmd(a *app) *cobra.Command {
	var (
		workspace, bucket, prefix string
		finish, cancel, force     bool
	)
	cmd := &cobra.Command{
		Use:   "rotate --workspace W [--finish [--bucket B [--prefix P]] [--force] | --cancel]",
		Short: "rotate the External ID with overlap: start, then --finish once the new one works",
		Long: `External ID rotation in two steps, without downtime:

  1. ingestctl integration rotate --workspace W
     generates a new External ID and prints a trust policy that accepts both the
     current and the new one. Jobs keep using the current one. The customer
     applies the new trust policy.
  2. ingestctl integration rotate --finish --workspace W [--bucket B --prefix P]
     first checks that the role can be assumed with the NEW External ID (with
     --bucket, the full verification); only if that passes does
     it switch jobs to the new ID and retire the old one, which the customer can
     then drop from the trust policy. --force skips the check.

--cancel abandons a rotation and discards the new ID.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workspace == "" {
				return errors.New("--workspace is required")
			}
			if finish && cancel {
				return errors.New("--finish and --cancel exclude each other")
			}
			if !finish && (bucket != "" || prefix != "" || force) {
				return errors.New("--bucket, --prefix and --force go with --finish")
			}
			ctx := cmd.Context()
			s, err := openCredStore(ctx, a, false)
			if err != nil {
				return err
			}
			switch {
			case cancel:
				integ, err := s.CancelRotation(ctx, workspace)
				if err != nil {
					return err
				}
				if a.asJSON {
					return a.printJSON(integ)
				}
				a.printf("External ID rotation of workspace %s cancelled; the External ID stays %s.\n", workspace, integ.ExternalID)
				return nil
			case finish:
				return finishRotation(cmd, a, s, workspace, bucket, prefix, force)
			}
			integ, err := s.RotateExternalID(ctx, workspace)
			if err != nil {
				return err
			}
			if err := printIntegration(a, "External ID rotation started: jobs keep using the current External ID until the rotation is finished.", integ, "", "", false); err != nil {
				return err
			}
			if !a.asJSON {
				a.printf("\nNext: have the customer apply this trust policy, then run\n  ingestctl integration rotate --finish --workspace %s [--bucket B --prefix P]\n", workspace)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspace, "workspace", "", "workspace ID (required)")
	f.BoolVar(&finish, "finish", false, "verify the new External ID, then retire the old one")
	f.BoolVar(&cancel, "cancel", false, "abandon the rotation, discarding the new External ID")
	f.StringVar(&bucket, "bucket", "", "with --finish: bucket for the full verification")
	f.StringVar(&prefix, "prefix", "", "with --finish: key prefix for the full verification")
	f.BoolVar(&force, "force", false, "with --finish: skip the check of the new External ID")
	return cmd
}

// finishRotation checks the new External ID (the app's full verification
// when a bucket is given, otherwise one sts:AssumeRole with it), then
// retires the old one.
func finishRotation(cmd *cobra.Command, a *app, s *credstore.Store, workspace, bucket, prefix string, force bool) error {
	ctx := cmd.Context()
	integ, err := s.GetIntegration(ctx, workspace)
	if err != nil {
		return err
	}
	if !integ.Rotating() {
		return fmt.Errorf("workspace %s: %w", workspace, credstore.ErrNoRotation)
	}
	if !force {
		if err := checkNewExternalID(cmd, a, s, integ, bucket, prefix); err != nil {
			return err
		}
	}
	fin, err := s.FinishRotation(ctx, workspace)
	if err != nil {
		return err
	}
	if a.asJSON {
		return a.printJSON(fin)
	}
	a.printf("External ID rotation of workspace %s finished: jobs now use %s; the old External ID %s is retired.\n", workspace, fin.ExternalID, integ.ExternalID)
	a.printf("The customer may now remove the old External ID from the trust policy:\n\n")
	trust, err := fin.TrustPolicy()
	if err != nil {
		return err
	}
	a.printf("%s", trust)
	return nil
}

func checkNewExternalID(cmd *cobra.Command, a *app, s *credstore.Store, integ *credstore.Integration, bucket, prefix string) error {
	if integ.Pending() {
		// Nothing can be assumed yet; the new ID simply replaces the old.
		return nil
	}
	if bucket != "" {
		if err := a.verifyRotation(cmd, integ.WorkspaceID, bucket, prefix); err != nil {
			return fmt.Errorf("verification with the new External ID failed, the rotation is NOT finished: %w", err)
		}
		return nil
	}
	r, err := a.newResolver(s)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	if _, err := r.AssumeRoleOnce(ctx, integ, integ.NextExternalID); err != nil {
		return fmt.Errorf("sts:AssumeRole with the new External ID failed, the rotation is NOT finished (has the customer applied the new trust policy? --force skips this check): %w", err)
	}
	if !a.asJSON {
		a.printf("sts:AssumeRole of %s with the new External ID: ok\n", integ.RoleARN)
	}
	return nil
}
