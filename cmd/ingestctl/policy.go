package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/credstore"
)

// newPolicyCmd builds `ingestctl policy`: the IAM documents a customer
// needs, filled in, so nobody hand-edits JSON.
func newPolicyCmd(a *app) *cobra.Command {
	var (
		bucket, prefix, partition, userARN, workspace, only string
		externalIDs                                         []string
	)
	cmd := &cobra.Command{
		Use:   "policy --bucket B [--prefix P] [--workspace W | --user-arn ARN --external-id ID]",
		Short: "print the S3 permission policy (and the role trust policy) for a bucket",
		Long: `Print the IAM permission policy that lets the platform read a bucket (optionally
only under a prefix): s3:ListBucket with an s3:prefix condition, s3:GetObject and
s3:GetObjectVersion on the objects, s3:GetBucketLocation.

With --workspace, the trust policy of that workspace's integration (User ARN and
External ID, both IDs during a rotation) is printed too, and the partition is
taken from its role ARN. With --user-arn and --external-id the trust policy is
built from those instead (no Redis needed).

--only permission|trust prints just that document, as plain JSON, for files and
infrastructure-as-code.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if only != "" && only != "permission" && only != "trust" {
				return fmt.Errorf("--only must be permission or trust, got %q", only)
			}
			if bucket == "" && only != "trust" {
				return errors.New("--bucket is required (the bucket the role may read)")
			}
			if workspace != "" && (userARN != "" || len(externalIDs) > 0) {
				return errors.New("give --workspace or --user-arn/--external-id, not both")
			}
			if (userARN == "") != (len(externalIDs) == 0) {
				return errors.New("--user-arn and --external-id go together (or use --workspace W to take both from the workspace's integration)")
			}
			if only == "trust" && workspace == "" && userARN == "" {
				return errors.New("--only trust needs --workspace, or --user-arn and --external-id")
			}

			var trust []byte
			switch {
			case workspace != "":
				ctx := cmd.Context()
				s, err := openCredStore(ctx, a, false)
				if err != nil {
					return err
				}
				integ, err := s.GetIntegration(ctx, workspace)
				if err != nil {
					return err
				}
				if !cmd.Flags().Changed("partition") {
					partition = integ.Partition()
				}
				if trust, err = integ.TrustPolicy(); err != nil {
					return err
				}
			case userARN != "":
				var err error
				if trust, err = credstore.TrustPolicy(userARN, externalIDs...); err != nil {
					return err
				}
			}
			var perm []byte
			if bucket != "" {
				var err error
				perm, err = credstore.PermissionPolicy(partition, credstore.BucketScope{Bucket: bucket, Prefix: prefix})
				if err != nil {
					return err
				}
			}

			switch {
			case only == "permission":
				_, err := a.stdout.Write(perm)
				return err
			case only == "trust":
				_, err := a.stdout.Write(trust)
				return err
			case a.asJSON:
				out := map[string]json.RawMessage{"permission_policy": policyJSON(perm)}
				if trust != nil {
					out["trust_policy"] = policyJSON(trust)
				}
				return a.printJSON(out)
			}
			a.printf("# Permission policy: attach it to the role (read access to %s)\n", bucketScopeText(bucket, prefix))
			a.printf("%s", perm)
			if trust != nil {
				a.printf("\n# Trust policy of the role\n%s", trust)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&bucket, "bucket", "", "bucket name (required)")
	f.StringVar(&prefix, "prefix", "", "key prefix to limit access to (default: the whole bucket)")
	f.StringVar(&partition, "partition", "aws", "AWS partition: aws, aws-cn or aws-us-gov")
	f.StringVar(&workspace, "workspace", "", "also print the trust policy of this workspace's integration")
	f.StringVar(&userARN, "user-arn", "", "platform principal for the trust policy (with --external-id)")
	f.StringArrayVar(&externalIDs, "external-id", nil, "External ID for the trust policy (repeat for a rotation)")
	f.StringVar(&only, "only", "", "print only this document as plain JSON: permission or trust")
	return cmd
}

// bucketScopeText describes a bucket scope for humans: s3://bucket/prefix*.
func bucketScopeText(bucket, prefix string) string {
	if prefix == "" {
		return "s3://" + bucket + " (whole bucket)"
	}
	return "s3://" + bucket + "/" + prefix + "*"
}
