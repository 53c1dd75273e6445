package sink_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// TestPostgresDDLErrorsArePermanent: DDL that PostgreSQL refuses for good
// is classified by its SQLSTATE as permanent, with a fix, so the worker
// does not retry it: a role without the privilege to create the
// workspace's schema (42501), more columns than a table holds (54011). A
// lock timeout stays transient (TestPostgresSchemaEvolution). A column
// named like a system column (a bounding-box CSV has xmin and xmax) is no
// longer refused: it is stored under a mapped name
// (TestPostgresColumnNameMapping).
func TestPostgresDDLErrorsArePermanent(t *testing.T) {
	ctx := ctxT(t)
	dsn := testenv.Postgres(t)
	pg, err := sink.OpenPostgres(ctx, dsn, sink.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	check := func(what string, err error, code, fixHas string) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != code {
			t.Fatalf("%s: err = %v, want SQLSTATE %s", what, err, code)
		}
		var c interface {
			Permanent() bool
			Fix() string
		}
		if !errors.As(err, &c) || !c.Permanent() || !strings.Contains(c.Fix(), fixHas) {
			t.Fatalf("%s: %v is not permanent with a fix naming %q", what, err, fixHas)
		}
		if !strings.Contains(err.Error(), c.Fix()) || strings.Contains(err.Error(), "ingestctl") {
			t.Fatalf("%s: message %q should carry the fix and name no CLI command", what, err)
		}
	}

	wide := &schema.Schema{}
	for i := range 1700 {
		wide.Fields = append(wide.Fields, schema.Field{Name: fmt.Sprintf("c%04d", i), Type: schema.Bool, Nullable: true})
	}
	_, err = pg.Begin(ctx, dset("wide"), obj("wide.csv"), sink.PlanFor(wide))
	check("1700 columns", err, "54011", "1600 columns")

	// A role that may connect but not create schemas.
	role := "s3ingest_noddl"
	if _, err := pg.Pool().Exec(ctx, `DO $$ BEGIN CREATE ROLE `+role+` LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	// It may use the ledger (in schema public) but not create a
	// workspace's schema.
	for _, q := range []string{
		`REVOKE CREATE ON DATABASE "` + strings.TrimPrefix(u.Path, "/") + `" FROM ` + role + `, PUBLIC`,
		`GRANT USAGE, CREATE ON SCHEMA public TO ` + role,
		`GRANT ALL ON ` + sink.LedgerTable + `, ` + sink.DatasetsTable + `, ` + sink.HistoryTable + ` TO ` + role,
	} {
		if _, err := pg.Pool().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	u.User = url.User(role)
	limited, err := sink.OpenPostgres(ctx, u.String(), sink.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()
	_, err = limited.Begin(ctx, sink.Dataset{Workspace: "ws-noddl", Name: "orders"}, obj("a.csv"),
		sink.PlanFor(&schema.Schema{Fields: []schema.Field{{Name: "id", Type: schema.Int64}}}))
	check("no CREATE privilege", err, "42501", "CREATE")
}
