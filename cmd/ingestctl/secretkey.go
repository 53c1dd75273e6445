package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/credstore"
)

// newSecretKeyCmd builds `ingestctl secret-key [ids|reseal]`.
func newSecretKeyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret-key",
		Short: "print a new random S3INGEST_SECRET_KEY (base64 of 32 bytes); retire old keys with reseal",
		Long: `Without a subcommand, print a new random key for S3INGEST_SECRET_KEY (the base64
of 32 bytes). Credential secrets are sealed with it at rest.

S3INGEST_SECRET_KEY holds one key, or several as id:base64 pairs separated by
commas: the first seals, every one opens. A key given alone has an ID derived
from it; ` + "`ingestctl secret-key ids`" + ` prints the IDs. See ` + "`ingestctl secret-key reseal --help`" + `
for how to retire a key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(a.stdout, credstore.GenerateKey())
			return nil
		},
	}
	cmd.AddCommand(newSecretKeyIDsCmd(a), newSecretKeyResealCmd(a))
	return cmd
}

func newSecretKeyIDsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "ids",
		Short: "print the IDs of the keys in S3INGEST_SECRET_KEY, the sealing key first (never the keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kr, err := credstore.KeyringFromEnv()
			if err != nil {
				return err
			}
			ids := kr.KeyIDs()
			if a.asJSON {
				return a.printJSON(map[string]any{"current_key_id": kr.CurrentKeyID(), "key_ids": ids})
			}
			a.printf("sealing key: %s\n", kr.CurrentKeyID())
			if len(ids) > 1 {
				a.printf("also opens:  %s\n", strings.Join(ids[1:], ", "))
			}
			return nil
		},
	}
}

func newSecretKeyResealCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "reseal",
		Short: "re-seal every stored credential under the current key, so older keys can be removed",
		Long: `Re-seal every stored credential secret under the first (sealing) key of
S3INGEST_SECRET_KEY. Records already sealed with it are left alone. It is
safe while ingestd runs, and can be run again at any time.

To retire a key (say the single key OLD now in use):

  1. ingestctl secret-key ids          # prints OLD's ID, e.g. 3f2a9c1d
     ingestctl secret-key              # prints a new key NEW
  2. In every ingestd and ingestctl, set
       S3INGEST_SECRET_KEY=k2:NEW,3f2a9c1d:OLD
     (the first key seals, both open) and restart ingestd.
  3. ingestctl secret-key reseal       # re-seals every credential under k2
     Run it again: it must report 0 re-sealed (a record changed while the
     first run read it is picked up by the second).
  4. Remove 3f2a9c1d:OLD from S3INGEST_SECRET_KEY everywhere
       S3INGEST_SECRET_KEY=k2:NEW
     and restart ingestd. OLD can then be destroyed.

A record sealed with a key the keyring no longer holds stops the command,
naming the credential: put that key back, or remove and add the credential
again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := openCredStore(ctx, a, true)
			if err != nil {
				return err
			}
			kr, err := credstore.KeyringFromEnv()
			if err != nil {
				return err
			}
			rep, err := s.Reseal(ctx)
			if err != nil {
				if errors.Is(err, credstore.ErrUnknownKeyID) {
					return fmt.Errorf("%w (re-sealed %d of %d credentials read so far; the keyring holds %s)", err, rep.Resealed, rep.Scanned, strings.Join(kr.KeyIDs(), ", "))
				}
				return err
			}
			if a.asJSON {
				return a.printJSON(map[string]any{"scanned": rep.Scanned, "resealed": rep.Resealed, "current_key_id": rep.Current, "key_ids": kr.KeyIDs()})
			}
			a.printf("re-sealed %d of %d credentials under key %s\n", rep.Resealed, rep.Scanned, rep.Current)
			if others := kr.KeyIDs()[1:]; len(others) > 0 {
				if rep.Resealed == 0 {
					a.printf("every credential is sealed with %s: keys %s can be removed from %s (in every process)\n", rep.Current, strings.Join(others, ", "), credstore.SecretKeyEnv)
				} else {
					a.printf("run it again; once it re-seals nothing, keys %s can be removed from %s (in every process)\n", strings.Join(others, ", "), credstore.SecretKeyEnv)
				}
			}
			return nil
		},
	}
}
