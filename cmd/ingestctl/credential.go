package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/credstore"
)

// newCredentialCmd builds `ingestctl credential add|list|update|test|remove`.
func newCredentialCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "credential",
		Short: "manage a workspace's credential instances (access keys, sealed at rest)",
		Long: `A credential instance is an access key pair (optionally with a session token
and an S3-compatible endpoint) stored for one workspace. Jobs that name it use
it; jobs that name none use the workspace's AWS integration.

Secrets are sealed with S3INGEST_SECRET_KEY before they reach Redis. They are
never taken from a flag (flags show in ps and shell history): pipe them on
stdin with --secret-stdin, or set S3INGEST_CRED_SECRET.`,
	}
	cmd.AddCommand(newCredentialAddCmd(a), newCredentialListCmd(a), newCredentialUpdateCmd(a), newCredentialTestCmd(a), newCredentialRemoveCmd(a))
	return cmd
}

func newCredentialAddCmd(a *app) *cobra.Command {
	var (
		workspace, name, accessKeyID, region, endpoint string
		secretStdin                                    bool
	)
	cmd := &cobra.Command{
		Use:   "add --workspace W --name N --access-key-id AKID (--secret-stdin | S3INGEST_CRED_SECRET=...)",
		Short: "store a credential instance for a workspace",
		Long: `Store an access key for a workspace. The secret access key comes from stdin
with --secret-stdin (first line; an optional second line is a session token),
or from the environment: S3INGEST_CRED_SECRET and S3INGEST_CRED_SESSION_TOKEN.
Needs S3INGEST_SECRET_KEY (the same key as ingestd).

  printf '%s\n' "$SECRET" | ingestctl credential add --workspace ws1 \
      --name minio --access-key-id AKIA... --endpoint https://minio.example.com --secret-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workspace == "" {
				return errors.New("--workspace is required")
			}
			if name == "" {
				return errors.New("--name is required")
			}
			if accessKeyID == "" {
				return errors.New("--access-key-id is required")
			}
			secret, token, err := readCredSecret(cmd.InOrStdin(), secretStdin)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := openCredStore(ctx, a, true)
			if err != nil {
				return err
			}
			c, err := s.AddCredential(ctx, workspace, credstore.CredentialInput{
				Name: name, AccessKeyID: accessKeyID, SecretAccessKey: secret, SessionToken: token,
				Region: region, Endpoint: endpoint,
			})
			if err != nil {
				return err
			}
			if a.asJSON {
				return a.printJSON(c)
			}
			a.printf("credential %s added to workspace %s\n", c.ID, c.WorkspaceID)
			a.printf("  name:           %s\n  access key ID:  %s\n", c.Name, c.AccessKeyID)
			if c.HasSessionToken {
				a.printf("  session token:  stored (sealed)\n")
			}
			if c.Region != "" {
				a.printf("  region:         %s\n", c.Region)
			}
			if c.Endpoint != "" {
				a.printf("  endpoint:       %s\n", c.Endpoint)
			}
			a.printf("Name it in jobs as credential ID %s.\n", c.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspace, "workspace", "", "workspace ID (required)")
	f.StringVar(&name, "name", "", "a label, unique within the workspace (required)")
	f.StringVar(&accessKeyID, "access-key-id", "", "access key ID (required)")
	f.BoolVar(&secretStdin, "secret-stdin", false, "read the secret access key (and an optional session token on a second line) from stdin")
	f.StringVar(&region, "region", "", "region (default: discover the bucket's region)")
	f.StringVar(&endpoint, "endpoint", "", "S3-compatible endpoint URL (default: AWS)")
	return cmd
}

// readCredSecret returns the secret and optional session token, from stdin
// (fromStdin) or the environment. Values are trimmed of surrounding white
// space (a trailing newline from echo or a file).
func readCredSecret(stdin io.Reader, fromStdin bool) (credstore.Secret, credstore.Secret, error) {
	if fromStdin {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 0, 4096), 64*1024)
		var lines []string
		for sc.Scan() && len(lines) < 2 {
			lines = append(lines, strings.TrimSpace(sc.Text()))
		}
		if err := sc.Err(); err != nil {
			return "", "", fmt.Errorf("read the secret from stdin: %w", err)
		}
		if len(lines) == 0 || lines[0] == "" {
			return "", "", errors.New("--secret-stdin: stdin is empty; pipe the secret access key on its first line")
		}
		token := ""
		if len(lines) > 1 {
			token = lines[1]
		}
		if token == "" {
			token = strings.TrimSpace(os.Getenv(envCredSessionToken))
		}
		return credstore.Secret(lines[0]), credstore.Secret(token), nil
	}
	secret := strings.TrimSpace(os.Getenv(envCredSecret))
	if secret == "" {
		return "", "", fmt.Errorf("no secret access key: pipe it on stdin with --secret-stdin, or set %s (never pass secrets as flags)", envCredSecret)
	}
	return credstore.Secret(secret), credstore.Secret(strings.TrimSpace(os.Getenv(envCredSessionToken))), nil
}

func newCredentialListCmd(a *app) *cobra.Command {
	var workspace string
	cmd := &cobra.Command{
		Use:   "list --workspace W",
		Short: "list a workspace's credential instances (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workspace == "" {
				return errors.New("--workspace is required")
			}
			ctx := cmd.Context()
			s, err := openCredStore(ctx, a, false)
			if err != nil {
				return err
			}
			list, err := s.ListCredentials(ctx, workspace)
			if err != nil {
				return err
			}
			if a.asJSON {
				return a.printJSON(list)
			}
			if len(list) == 0 {
				a.printf("workspace %s has no credential instances (add one with `ingestctl credential add --workspace %s ...`)\n", workspace, workspace)
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tACCESS KEY ID\tTOKEN\tREGION\tENDPOINT\tCREATED")
			for _, c := range list {
				token := "-"
				if c.HasSessionToken {
					token = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.AccessKeyID, token, dashIfEmpty(c.Region), dashIfEmpty(c.Endpoint), recordTime(c.CreatedAt))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&workspace, "workspace", "", "workspace ID (required)")
	return cmd
}

func newCredentialRemoveCmd(a *app) *cobra.Command {
	var workspace, id, name string
	cmd := &cobra.Command{
		Use:   "remove --workspace W (--id ID | --name N)",
		Short: "delete a credential instance; jobs naming it then fail",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workspace == "" {
				return errors.New("--workspace is required")
			}
			if (id == "") == (name == "") {
				return errors.New("give exactly one of --id and --name")
			}
			ctx := cmd.Context()
			s, err := openCredStore(ctx, a, false)
			if err != nil {
				return err
			}
			if id == "" {
				c, err := s.CredentialByName(ctx, workspace, name)
				if err != nil {
					return err
				}
				id = c.ID
			}
			if err := s.RemoveCredential(ctx, workspace, id); err != nil {
				return err
			}
			if a.asJSON {
				return a.printJSON(map[string]any{"workspace_id": workspace, "id": id, "removed": true})
			}
			a.printf("credential %s removed from workspace %s\n", id, workspace)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspace, "workspace", "", "workspace ID (required)")
	f.StringVar(&id, "id", "", "credential ID")
	f.StringVar(&name, "name", "", "credential name")
	return cmd
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// credentialID returns the ID of the credential named by exactly one of
// --id and --name.
func credentialID(cmd *cobra.Command, s *credstore.Store, workspace, id, name string) (string, error) {
	if id != "" {
		return id, nil
	}
	c, err := s.CredentialByName(cmd.Context(), workspace, name)
	if err != nil {
		return "", err
	}
	return c.ID, nil
}

// checkSelector checks --workspace and exactly one of --id and --name.
func checkSelector(workspace, id, name string) error {
	if workspace == "" {
		return errors.New("--workspace is required")
	}
	if (id == "") == (name == "") {
		return errors.New("give exactly one of --id and --name")
	}
	return nil
}

func newCredentialUpdateCmd(a *app) *cobra.Command {
	var (
		workspace, id, name, accessKeyID string
		secretStdin                      bool
	)
	cmd := &cobra.Command{
		Use:   "update --workspace W (--id ID | --name N) --access-key-id AKID (--secret-stdin | S3INGEST_CRED_SECRET=...)",
		Short: "replace a credential instance's key pair in place (a key rotated at the customer's side)",
		Long: `Replace the access key pair (and session token) of a stored credential
instance. Its ID, name, region and endpoint stay, so jobs and schedules that
name it use the new keys from their next run; a running ingest keeps the keys
it started with.

The secret comes as for ` + "`credential add`" + `: the first line of stdin with --secret-stdin
(an optional second line is a session token), or S3INGEST_CRED_SECRET and
S3INGEST_CRED_SESSION_TOKEN. A stored session token not given again is removed.
Needs S3INGEST_SECRET_KEY.

  printf '%s\n' "$NEW_SECRET" | ingestctl credential update --workspace ws1 \
      --name minio --access-key-id AKIANEW... --secret-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkSelector(workspace, id, name); err != nil {
				return err
			}
			if accessKeyID == "" {
				return errors.New("--access-key-id is required")
			}
			secret, token, err := readCredSecret(cmd.InOrStdin(), secretStdin)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := openCredStore(ctx, a, true)
			if err != nil {
				return err
			}
			credID, err := credentialID(cmd, s, workspace, id, name)
			if err != nil {
				return err
			}
			c, err := s.UpdateCredential(ctx, workspace, credID, credstore.KeyUpdate{AccessKeyID: accessKeyID, SecretAccessKey: secret, SessionToken: token})
			if err != nil {
				return err
			}
			if a.asJSON {
				return a.printJSON(c)
			}
			a.printf("credential %s (%s) of workspace %s now uses access key ID %s", c.ID, c.Name, c.WorkspaceID, c.AccessKeyID)
			if c.HasSessionToken {
				a.printf(" with a session token")
			}
			a.printf("\ncheck it with: ingestctl credential test --workspace %s --id %s --bucket B\n", c.WorkspaceID, c.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&workspace, "workspace", "", "workspace ID (required)")
	f.StringVar(&id, "id", "", "credential ID")
	f.StringVar(&name, "name", "", "credential name")
	f.StringVar(&accessKeyID, "access-key-id", "", "the new access key ID (required)")
	f.BoolVar(&secretStdin, "secret-stdin", false, "read the secret access key (and an optional session token on a second line) from stdin")
	return cmd
}
