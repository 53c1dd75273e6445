package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// LedgerTable is the PostgreSQL table holding the ledger of every dataset
// of every workspace (in the connection's search_path).
const LedgerTable = "s3ingest_ledger"

// WorkspaceSchemaPrefix starts the name of the PostgreSQL schema that holds
// a workspace's tables: "ws_" + the workspace ID.
const WorkspaceSchemaPrefix = "ws_"

// MaxPostgresWorkspaceID is the longest workspace ID the Postgres sink
// accepts: its schema name, WorkspaceSchemaPrefix + ID, must fit
// PostgreSQL's 63-byte identifier limit.
const MaxPostgresWorkspaceID = maxIdent - len(WorkspaceSchemaPrefix)

// RejectsSuffix is appended to a dataset's table name to name its rejects
// table.
const RejectsSuffix = "_rejects"

// maxIdent is PostgreSQL's identifier length limit (NAMEDATALEN-1); longer
// names are silently truncated by the server, so dataset names are refused
// and column names mapped (pgStoredName).
const maxIdent = 63

// DefaultLockTimeout bounds how long Begin waits for a lock: the dataset's
// catalog row and table when it creates or alters the table, the object's
// key when it replaces earlier versions.
const DefaultLockTimeout = 30 * time.Second

// PostgresOptions configure a Postgres sink. The zero value uses the
// defaults.
type PostgresOptions struct {
	// MaxConns bounds the pool (default: pgxpool's, max(4, CPUs)). Each
	// open Writer holds one connection.
	MaxConns int32
	// LockTimeout bounds Begin's lock waits (default DefaultLockTimeout).
	// ALTER TABLE (adding a column, widening one) waits for running
	// writers of the same dataset, an object that changes the schema
	// waits for another one doing so; on timeout Begin fails with a transient error (SQLSTATE
	// 55P03).
	LockTimeout time.Duration
	// RejectBatch is how many rejects are buffered before they are copied
	// into the rejects table (default 1000).
	RejectBatch int
}

// Postgres keeps one PostgreSQL schema per workspace, named "ws_" + the
// workspace ID, quoted (PostgresSchemaName: workspace "acme:prod" has
// schema "ws_acme:prod"; IDs are case-sensitive, as quoted names are). A
// dataset is a table in its workspace's schema (the dataset name, quoted),
// its rejects are in <dataset>_rejects beside it, and the ledger of every
// dataset of every workspace is s3ingest_ledger (in the connection's
// search_path) with primary key
// (workspace, dataset, bucket, key, version, size):
//
//	"ws_<workspace>"."<dataset>"            rows (+ _s3ingest_key: "bucket/key")
//	"ws_<workspace>"."<dataset>_rejects"    rejected rows
//	s3ingest_ledger                         one row per committed object version
//	s3ingest_datasets                       one row per dataset: schema version, columns, settings
//	s3ingest_dataset_history                one row per schema version: the change (jsonb)
//
// The schema is created on a workspace's first Begin, which needs the
// CREATE privilege on the database (or the schema created beforehand by an
// administrator). Names are limited to 63 bytes by PostgreSQL, so this sink
// accepts workspace IDs of at most MaxPostgresWorkspaceID (60) bytes and
// dataset names of at most 55 (room for "_rejects"); longer ones fail with
// ErrInvalidDataset naming the field. A ledger table created by an earlier
// version (without the workspace column) is upgraded in place by
// OpenPostgres: its rows get the empty workspace, which no dataset has; the
// catalog tables are created beside it. A dataset table created before the
// catalog gets its catalog row (its columns, as they are) and KeyColumn on
// first use.
//
// Column types: bool -> boolean, int64 -> bigint, float64 -> double
// precision, date -> date, timestamp -> timestamptz, string -> text,
// json -> jsonb (PostgreSQL normalises jsonb: whitespace and key order are
// not kept, and of duplicate keys the last wins). The table is created by
// the first object's transaction (non-nullable columns NOT NULL). A plan is
// matched with the catalog by column name: new columns are added
// (nullable), a planned widening alters the column's type (int64 → float64
// → string, date → timestamp), columns the object lacks are left null. A
// column the catalog has with another type fails Begin: with a transient
// *SchemaConflictError for a reconciled plan (a concurrent commit changed
// the schema; the object is reconciled again), with ErrIncompatibleSchema
// for a PlanFor plan. Column names PostgreSQL cannot store as given are
// stored under another name (pgStoredName; Column.Stored).
//
// New columns of an existing dataset are added by Begin in a short
// transaction of their own (ALTER TABLE … ADD COLUMN, the catalog row and
// the history), committed before the object's, so the table's ACCESS
// EXCLUSIVE lock is not held during the load; they stay if the object
// fails (nullable and empty, recorded with the object that brought them).
// Creating the table and widening a column happen in the object's
// transaction and commit with its rows. Each Writer then runs one
// transaction: the remaining schema changes (Begin), batches through
// binary COPY, rejects through COPY, and Commit inserts the ledger row with
// ON CONFLICT DO NOTHING; if the row was already there (a concurrent retry
// committed first) the transaction is rolled back and Commit returns nil.
// Under modified policy replace Commit locks the object's key until the
// transaction ends: a newer version of the key already in the ledger
// (LastModified) makes it discard the rows (Discarded); otherwise it
// deletes the key's other versions before committing.
type Postgres struct {
	pool *pgxpool.Pool
	opt  PostgresOptions
}

// OpenPostgres connects to PostgreSQL (a pgx DSN or URL) and creates the
// ledger table if needed.
func OpenPostgres(ctx context.Context, dsn string, opt PostgresOptions) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidURL, redactURL(dsn), err)
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	// Describe every statement when it runs, never from a per-connection
	// cache: a COPY's column types come from its description, and a
	// widening (ALTER COLUMN TYPE, by this or another process) leaves
	// cached descriptions stale, so binary COPY would encode values for the
	// old type (an int64 sent to a double precision column is read as a
	// denormal float). One extra round trip per statement and per batch.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	if opt.LockTimeout <= 0 {
		opt.LockTimeout = DefaultLockTimeout
	}
	if opt.RejectBatch <= 0 {
		opt.RejectBatch = 1000
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: connect: %w", err)
	}
	p := &Postgres{pool: pool, opt: opt}
	if err := p.createLedger(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return p, nil
}

// Pool returns the connection pool (for tests and admin tools).
func (p *Postgres) Pool() *pgxpool.Pool { return p.pool }

// Close closes the pool. It waits until every open Writer has committed or
// aborted (each holds a connection).
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}

func (p *Postgres) createLedger(ctx context.Context) error {
	return p.ddl(ctx, LedgerTable, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+LedgerTable+` (
	workspace     text        NOT NULL,
	dataset       text        NOT NULL,
	bucket        text        NOT NULL,
	key           text        NOT NULL,
	version       text        NOT NULL,
	size          bigint      NOT NULL,
	version_id    text        NOT NULL DEFAULT '',
	etag          text        NOT NULL DEFAULT '',
	last_modified timestamptz,
	rows          bigint      NOT NULL,
	rejected      bigint      NOT NULL,
	bytes         bigint      NOT NULL,
	committed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (workspace, dataset, bucket, key, version, size)
)`)
		if err != nil {
			return err
		}
		if err := upgradeLedger(ctx, tx); err != nil {
			return err
		}
		return createCatalog(ctx, tx)
	})
}

// upgradeLedger adds the workspace column to a ledger table created before
// datasets were namespaced by workspace, and puts it in the primary key.
// Existing rows get the empty workspace: they describe tables of the old,
// unnamespaced layout, and no valid workspace is empty, so they never match.
func upgradeLedger(ctx context.Context, tx pgx.Tx) error {
	var has bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute
WHERE attrelid = to_regclass($1) AND attname = 'workspace' AND NOT attisdropped)`, LedgerTable).Scan(&has); err != nil {
		return err
	}
	if has {
		return nil
	}
	var pkey string
	if err := tx.QueryRow(ctx, `SELECT conname FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`, LedgerTable).Scan(&pkey); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	stmts := []string{`ALTER TABLE ` + LedgerTable + ` ADD COLUMN workspace text NOT NULL DEFAULT ''`,
		`ALTER TABLE ` + LedgerTable + ` ALTER COLUMN workspace DROP DEFAULT`}
	if pkey != "" {
		stmts = append(stmts, `ALTER TABLE `+LedgerTable+` DROP CONSTRAINT `+pgx.Identifier{pkey}.Sanitize())
	}
	stmts = append(stmts, `ALTER TABLE `+LedgerTable+` ADD PRIMARY KEY (workspace, dataset, bucket, key, version, size)`)
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("upgrade ledger: %w", err)
		}
	}
	return nil
}

// ddl runs f in a transaction holding an advisory lock for name (a table
// name, as printed in errors), with a lock timeout, so concurrent workers
// do not race creating or altering the same table.
func (p *Postgres) ddl(ctx context.Context, name string, f func(pgx.Tx) error) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres sink: %w", err)
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", p.opt.LockTimeout.Milliseconds())); err != nil {
		return fmt.Errorf("postgres sink: %w", err)
	}
	if err := advisoryLock(ctx, tx, name); err != nil {
		return fmt.Errorf("postgres sink: lock %s: %w", name, err)
	}
	if err := f(tx); err != nil {
		return pgError("create or evolve", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return pgError("create or evolve", name, err)
	}
	return nil
}

// advisoryLock takes the transaction-scoped advisory lock named name.
func advisoryLock(ctx context.Context, tx pgx.Tx, name string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('s3ingest:' || $1, 0))`, name)
	return err
}

func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// PostgresSchemaName returns the name (unquoted) of the PostgreSQL schema
// holding workspace ws's tables: WorkspaceSchemaPrefix + ws.
func PostgresSchemaName(ws string) string { return WorkspaceSchemaPrefix + ws }

// pgTable is a dataset's tables, resolved.
type pgTable struct {
	schema  string // unquoted schema name
	ident   pgx.Identifier
	rejects pgx.Identifier
	quoted  string // "schema"."table", for SQL and messages
}

// pgDataset validates ds with PostgreSQL's limits and names its tables.
func pgDataset(ds Dataset) (pgTable, error) {
	if err := validatePGDataset(ds); err != nil {
		return pgTable{}, err
	}
	sch := PostgresSchemaName(ds.Workspace)
	t := pgTable{schema: sch, ident: pgx.Identifier{sch, ds.Name}, rejects: pgx.Identifier{sch, ds.Name + RejectsSuffix}}
	t.quoted = t.ident.Sanitize()
	return t, nil
}

// validatePGDataset adds PostgreSQL's limits to Dataset.Validate.
func validatePGDataset(ds Dataset) error {
	if err := ds.Validate(); err != nil {
		return err
	}
	if ws := ds.Workspace; len(ws) > MaxPostgresWorkspaceID {
		return fmt.Errorf("%w: workspace %q: %d bytes long, PostgreSQL allows at most %d (the workspace's schema is named %q + the workspace ID, and names are limited to %d bytes)",
			ErrInvalidDataset, shorten(ws), len(ws), MaxPostgresWorkspaceID, WorkspaceSchemaPrefix, maxIdent)
	}
	name := ds.Name
	if len(name)+len(RejectsSuffix) > maxIdent {
		return fmt.Errorf("%w: dataset %q: %d bytes long, PostgreSQL allows at most %d (table names are limited to %d bytes and the rejects table adds %q)",
			ErrInvalidDataset, name, len(name), maxIdent-len(RejectsSuffix), maxIdent, RejectsSuffix)
	}
	if name == LedgerTable || strings.HasSuffix(name, RejectsSuffix) {
		return fmt.Errorf("%w: dataset %q: names ending in %q and %q are reserved in PostgreSQL", ErrInvalidDataset, name, RejectsSuffix, LedgerTable)
	}
	return nil
}

// Seen looks obj up in the ledger of ds.
func (p *Postgres) Seen(ctx context.Context, ds Dataset, obj ObjectRef) (bool, error) {
	if err := validatePGDataset(ds); err != nil {
		return false, err
	}
	if err := obj.validate(); err != nil {
		return false, err
	}
	var one int
	err := p.pool.QueryRow(ctx, `SELECT 1 FROM `+LedgerTable+` WHERE workspace = $1 AND dataset = $2 AND bucket = $3 AND key = $4 AND version = $5 AND size = $6`,
		ds.Workspace, ds.Name, obj.Bucket, obj.Key, obj.Version(), obj.Size).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	default:
		return false, fmt.Errorf("postgres sink: ledger lookup: %w", err)
	}
}

// pgType returns the column type for a schema type.
func pgType(t schema.Type) string {
	switch t {
	case schema.Bool:
		return "boolean"
	case schema.Int64:
		return "bigint"
	case schema.Float64:
		return "double precision"
	case schema.Date:
		return "date"
	case schema.Timestamp:
		return "timestamp with time zone"
	case schema.JSON:
		return "jsonb"
	default:
		return "text"
	}
}

// pgCompatible reports whether an existing column of type have (as printed
// by format_type) can take values of type t.
func pgCompatible(t schema.Type, have string) bool {
	switch t {
	case schema.String:
		return have == "text" || strings.HasPrefix(have, "character varying")
	case schema.JSON:
		return have == "jsonb" || have == "json"
	default:
		return have == pgType(t)
	}
}

type pgColumn struct {
	typ        string
	notNull    bool
	hasDefault bool
}

const rejectsColumns = `bucket text NOT NULL, key text NOT NULL, version text NOT NULL, size bigint NOT NULL,
	line bigint, "row" bigint, "column" text, value text, error text NOT NULL,
	rejected_at timestamptz NOT NULL DEFAULT clock_timestamp()`

var rejectsCopyColumns = []string{"bucket", "key", "version", "size", "line", "row", "column", "value", "error"}

// ensureSchema creates a workspace's schema if it does not exist, under the
// schema's own advisory lock (datasets of one workspace are created under
// different table locks). An existing schema is left alone, so a role
// without the CREATE privilege on the database works with schemas an
// administrator created.
func ensureSchema(ctx context.Context, tx pgx.Tx, name string) error {
	quoted := pgx.Identifier{name}.Sanitize()
	if err := advisoryLock(ctx, tx, "schema "+quoted); err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoted); err != nil {
		return fmt.Errorf("create schema %s: %w", quoted, err)
	}
	return nil
}

// Begin adds the plan's new columns to an existing dataset in a
// transaction of their own (addColumns), then opens the object's
// transaction and prepares it for the plan's rows. When the plan's columns
// are all in the dataset's catalog row with the same types, it only reads
// the catalog; otherwise (a new dataset, a widening, a table created
// before the catalog, columns added concurrently) it locks the
// catalog row, creates or alters the table, and records the new schema
// version and its history in the same transaction, so the change commits
// with the rows or not at all (see evolution.run). When the dataset's
// modified policy is replace (replacing), Commit locks the object's key
// for the rest of the transaction and then, if the ledger has a newer
// version of the key (newerCommitted), discards the rows (Discarded);
// otherwise it deletes the rows, rejects and ledger entries of the key's
// other versions (replaceEarlier). Lock waits in this phase are bounded
// by PostgresOptions.LockTimeout (a transient error).
func (p *Postgres) Begin(ctx context.Context, ds Dataset, obj ObjectRef, plan Plan) (Writer, error) {
	t, err := pgDataset(ds)
	if err != nil {
		return nil, err
	}
	if err := obj.validate(); err != nil {
		return nil, err
	}
	if err := validateSchema(ColumnsSchema(plan.Columns)); err != nil {
		return nil, err
	}
	if err := p.addColumns(ctx, t, ds, obj, plan); err != nil {
		return nil, err
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: begin: %w", err)
	}
	w, err := p.prepare(ctx, tx, t, ds, obj, plan)
	if err != nil {
		rollback(ctx, tx)
		return nil, err
	}
	return w, nil
}

// addColumns adds the plan's new columns to an existing dataset in a short
// transaction of their own, before the object's: ALTER TABLE … ADD COLUMN
// holds the table's ACCESS EXCLUSIVE lock only until that transaction
// commits, not for the object's whole load, so readers and other writers
// of the dataset wait for the ALTER only (it still waits, up to
// LockTimeout, for writers already loading: PostgreSQL alters no table
// under a running writer). The catalog row (locked FOR UPDATE) gets the
// columns and the history a schema version naming the object that brought
// them, committed even if the object later fails: a nullable column
// without values loses nothing, and the next version of the object finds
// it. Widenings (ALTER COLUMN TYPE) stay in the object's transaction: they
// rewrite the table and change values' type, so they commit with the rows
// that need them or not at all. Creating a dataset, and registering a
// table created before the catalog, stay there too. A concurrent change of
// one of the columns to another type is a *SchemaConflictError (reconciled
// plans) as in the object's transaction.
func (p *Postgres) addColumns(ctx context.Context, t pgTable, ds Dataset, obj ObjectRef, plan Plan) error {
	cat, err := readCatalog(ctx, p.pool, ds, false)
	if err != nil {
		return pgError("read the catalog of", t.quoted, err)
	}
	if cat == nil || cat.version == 0 {
		return nil
	}
	missing := false
	for _, pc := range plan.Columns {
		if cat.column(pc.Name) == nil {
			missing = true
			break
		}
	}
	if !missing {
		return nil
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres sink: begin: %w", err)
	}
	defer rollback(ctx, tx)
	if err := setLockTimeout(ctx, tx, p.opt.LockTimeout); err != nil {
		return pgError("add columns to", t.quoted, err)
	}
	ev := evolution{p: p, tx: tx, t: t, ds: ds, obj: &obj, plan: plan, addOnly: true}
	if err := ev.run(ctx); err != nil {
		return pgError("add columns to", t.quoted, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return pgError("add columns to", t.quoted, err)
	}
	return nil
}

// prepare is Begin inside the transaction.
func (p *Postgres) prepare(ctx context.Context, tx pgx.Tx, t pgTable, ds Dataset, obj ObjectRef, plan Plan) (*pgWriter, error) {
	if err := setLockTimeout(ctx, tx, p.opt.LockTimeout); err != nil {
		return nil, pgError("begin writing", t.quoted, err)
	}
	key := obj.Bucket + "/" + obj.Key
	cat, err := readCatalog(ctx, tx, ds, false)
	if err != nil {
		return nil, pgError("read the catalog of", t.quoted, err)
	}
	tab, err := readTable(ctx, tx, t)
	if err != nil {
		return nil, pgError("read the columns of", t.quoted, err)
	}
	if needsEvolution(cat, tab, plan) {
		ev := evolution{p: p, tx: tx, t: t, ds: ds, obj: &obj, plan: plan}
		if err := ev.run(ctx); err != nil {
			return nil, pgError("create or evolve", t.quoted, err)
		}
		cat = ev.cat
		if tab, err = readTable(ctx, tx, t); err != nil {
			return nil, pgError("read the columns of", t.quoted, err)
		}
	}
	fields := ColumnsSchema(plan.Columns).Fields
	w := &pgWriter{
		p:       p,
		ds:      ds,
		table:   t,
		obj:     obj,
		fields:  fields,
		names:   make([]string, len(fields)+1),
		notNull: make([]bool, len(fields)),
		tx:      tx,
		replace: replacing(plan),
	}
	inPlan := map[string]bool{KeyColumn: true}
	for i, pc := range plan.Columns {
		c := cat.column(pc.Name)
		if c == nil || c.Type != pc.Type {
			// evolution.run made them equal, or failed.
			return nil, fmt.Errorf("postgres sink: dataset %s: column %q is not in the catalog as %s after the schema change", ds, pc.Name, pc.Type)
		}
		stored := c.StoredName()
		tc, ok := tab.cols[stored]
		if !ok {
			return nil, fmt.Errorf("%w: table %s has no column %q, which the dataset's catalog lists for column %q: the table was changed outside the sink; add the column back",
				ErrIncompatibleSchema, t.quoted, stored, pc.Name)
		}
		if !pgCompatible(pc.Type, tc.typ) {
			return nil, fmt.Errorf("%w: table %s column %q is %s, but the object's column is %s (needs %s): rename the column in the source, or alter or drop the table column",
				ErrIncompatibleSchema, t.quoted, stored, tc.typ, pc.Type, pgType(pc.Type))
		}
		w.names[i] = stored
		w.notNull[i] = pc.Nullable && tc.notNull
		inPlan[stored] = true
	}
	w.names[len(fields)] = KeyColumn
	for _, name := range tab.order {
		if c := tab.cols[name]; !inPlan[name] && c.notNull && !c.hasDefault {
			return nil, fmt.Errorf("%w: table %s column %q is NOT NULL without a default, and the object has no such column: give it a default or drop NOT NULL",
				ErrIncompatibleSchema, t.quoted, name)
		}
	}
	if err := resetLockTimeout(ctx, tx); err != nil {
		return nil, pgError("begin writing", t.quoted, err)
	}
	w.src.init(fields, key)
	return w, nil
}

// newerCommitted reports whether the ledger of ds has a version of obj's
// key modified after obj (see newerVersion): committing obj would replace
// newer data with older, so its writer is stale and its commit discarded.
func newerCommitted(ctx context.Context, tx pgx.Tx, ds Dataset, obj ObjectRef) (bool, error) {
	if obj.LastModified.IsZero() {
		return false, nil
	}
	var newer bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+LedgerTable+` WHERE workspace = $1 AND dataset = $2 AND bucket = $3 AND key = $4
AND NOT (version = $5 AND size = $6) AND last_modified > $7)`,
		ds.Workspace, ds.Name, obj.Bucket, obj.Key, obj.Version(), obj.Size, obj.LastModified.Truncate(time.Microsecond)).Scan(&newer)
	if err != nil {
		return false, pgError("read newer ledger entries in", LedgerTable, err)
	}
	return newer, nil
}

// replaceEarlier deletes, in the object's transaction, the rows of the
// key's other versions (by KeyColumn; rows loaded before the table had it
// are not found), their rejects and their ledger entries: after the commit
// the ledger lists only versions whose rows are in the table. If the commit
// fails, nothing is deleted.
//
// Rows loaded before the table had KeyColumn cannot be found by key: when
// the deleted rows fall short of what the ledger says the earlier versions
// hold, the object fails (permanently, naming the object and the fix)
// rather than leaving old and new rows side by side while the ledger
// forgets the old ones.
func replaceEarlier(ctx context.Context, tx pgx.Tx, t pgTable, ds Dataset, obj ObjectRef) error {
	var want int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(rows), 0) FROM `+LedgerTable+` WHERE workspace = $1 AND dataset = $2 AND bucket = $3 AND key = $4 AND NOT (version = $5 AND size = $6)`,
		ds.Workspace, ds.Name, obj.Bucket, obj.Key, obj.Version(), obj.Size).Scan(&want); err != nil {
		return pgError("read earlier ledger entries in", LedgerTable, err)
	}
	// The transaction's own rows (inserted by it: xmin is its ID; it uses
	// no subtransactions) are this version's.
	tag, err := tx.Exec(ctx, `DELETE FROM `+t.quoted+` WHERE `+pgx.Identifier{KeyColumn}.Sanitize()+` = $1
AND xmin::text::bigint <> txid_current() % 4294967296`, obj.Bucket+"/"+obj.Key)
	if err != nil {
		return pgError("replace earlier rows in", t.quoted, err)
	}
	if got := tag.RowsAffected(); got < want {
		return fmt.Errorf("%w: dataset %s: the earlier versions of s3://%s/%s hold %d rows in %s, of which only %d carry their object key "+
			"(the others were loaded by an s3ingest before rows carried %s); modified policy replace cannot remove them: "+
			"delete those rows and their %s entries by hand, or load new versions into a dataset with modified policy append",
			ErrIncompatibleSchema, ds, obj.Bucket, obj.Key, want, t.quoted, got, KeyColumn, LedgerTable)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM `+t.rejects.Sanitize()+` WHERE bucket = $1 AND key = $2 AND NOT (version = $3 AND size = $4)`,
		obj.Bucket, obj.Key, obj.Version(), obj.Size); err != nil {
		return pgError("replace earlier rejects in", t.rejects.Sanitize(), err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM `+LedgerTable+` WHERE workspace = $1 AND dataset = $2 AND bucket = $3 AND key = $4 AND NOT (version = $5 AND size = $6)`,
		ds.Workspace, ds.Name, obj.Bucket, obj.Key, obj.Version(), obj.Size); err != nil {
		return pgError("replace earlier ledger entries in", LedgerTable, err)
	}
	return nil
}

// pgWriter is one object version's transaction.
type pgWriter struct {
	p       *Postgres
	ds      Dataset
	table   pgTable
	obj     ObjectRef
	fields  []schema.Field
	names   []string // stored names of fields, then KeyColumn
	notNull []bool   // nullable in the schema but NOT NULL in the table

	tx       pgx.Tx
	src      batchSource
	rows     int64
	rejects  [][]any
	nRejects int64

	err       error
	done      bool
	discarded bool // committed meanwhile by another writer: rolled back
	// replace: the modified policy is replace; Commit replaces the key's
	// other versions, or discards this one if one of them is newer.
	replace bool
}

// Discarded reports whether Commit found the object version committed
// meanwhile, or (modified policy replace) a newer version of its key, and
// rolled its rows back (see Discarded).
func (w *pgWriter) Discarded() bool { return w.discarded }

var pgRules = valueRules{
	noNUL: true,
	// PostgreSQL's date range: 4713-11-24 BC .. 5874897-12-31.
	minDate: -2440588,
	maxDate: 2147483494 - 2440588 - 1,
	// timestamptz starts at 4713-11-24 00:00 UTC BC; every int64 of
	// microseconds is below its end (294276 AD).
	minTimestamp: -210866803200000000,
}

func (w *pgWriter) Write(ctx context.Context, b *schema.Batch) error {
	if w.done {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if err := checkBatch(b, w.fields, pgRules); err != nil {
		return err
	}
	for c, nn := range w.notNull {
		if !nn {
			continue
		}
		for i, null := range b.Cols[c].Nulls {
			if null {
				return valueErr(b, &w.fields[c], i, fmt.Sprintf("null, but table %s declares the column NOT NULL", w.table.quoted))
			}
		}
	}
	if b.Len() == 0 {
		return nil
	}
	w.src.reset(b)
	n, err := w.tx.CopyFrom(ctx, w.table.ident, w.names, &w.src)
	w.src.reset(nil)
	if err != nil {
		w.err = pgError("copy rows into", w.table.quoted, err)
		return w.err
	}
	w.rows += n
	return nil
}

func (w *pgWriter) Reject(ctx context.Context, r Reject) error {
	if w.done {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	w.rejects = append(w.rejects, []any{w.obj.Bucket, w.obj.Key, w.obj.Version(), w.obj.Size,
		nullInt(r.Line), nullInt(r.Row), nullText(r.Column), nullText(r.Value), cleanText(r.Error)})
	w.nRejects++
	if len(w.rejects) >= w.p.opt.RejectBatch {
		return w.flushRejects(ctx)
	}
	return nil
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return cleanText(s)
}

// cleanText makes s storable as PostgreSQL text: valid UTF-8 without NULs.
func cleanText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

func (w *pgWriter) flushRejects(ctx context.Context) error {
	if len(w.rejects) == 0 {
		return nil
	}
	if _, err := w.tx.CopyFrom(ctx, w.table.rejects, rejectsCopyColumns, pgx.CopyFromRows(w.rejects)); err != nil {
		w.err = pgError("copy rejects into", w.table.rejects.Sanitize(), err)
		return w.err
	}
	w.rejects = w.rejects[:0]
	return nil
}

func (w *pgWriter) Commit(ctx context.Context, st Stats) error {
	if w.done {
		return ErrClosed
	}
	w.done = true
	if w.err != nil {
		rollback(ctx, w.tx)
		return w.err
	}
	if err := w.flushRejects(ctx); err != nil {
		rollback(ctx, w.tx)
		return err
	}
	key := w.obj.Bucket + "/" + w.obj.Key
	if w.replace {
		// Versions of one key commit one at a time from here to the end
		// of the transaction (a short wait: holders are committing).
		if err := advisoryLock(ctx, w.tx, "key "+w.table.quoted+" "+key); err != nil {
			rollback(ctx, w.tx)
			return pgError("lock the key "+key+" of", w.table.quoted, err)
		}
		newer, err := newerCommitted(ctx, w.tx, w.ds, w.obj)
		if err != nil {
			rollback(ctx, w.tx)
			return err
		}
		if newer {
			// A newer version of the key is committed: keep it.
			rollback(ctx, w.tx)
			w.discarded = true
			return nil
		}
	}
	var lastMod *time.Time
	if !w.obj.LastModified.IsZero() {
		lastMod = &w.obj.LastModified
	}
	tag, err := w.tx.Exec(ctx, `INSERT INTO `+LedgerTable+` (workspace, dataset, bucket, key, version, size, version_id, etag, last_modified, rows, rejected, bytes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
		w.ds.Workspace, w.ds.Name, w.obj.Bucket, w.obj.Key, w.obj.Version(), w.obj.Size, w.obj.VersionID, w.obj.ETag, lastMod,
		w.rows, max(st.Rejected, w.nRejects), st.Bytes)
	if err != nil {
		rollback(ctx, w.tx)
		return pgError("insert ledger entry into", LedgerTable, err)
	}
	if tag.RowsAffected() == 0 {
		// Committed meanwhile by a concurrent retry: drop this copy.
		rollback(ctx, w.tx)
		w.discarded = true
		return nil
	}
	if w.replace {
		if err := replaceEarlier(ctx, w.tx, w.table, w.ds, w.obj); err != nil {
			rollback(ctx, w.tx)
			return err
		}
	}
	if err := w.tx.Commit(ctx); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" && pe.TableName == LedgerTable {
			w.discarded = true
			return nil
		}
		return pgError("commit "+w.obj.String()+" into", w.table.quoted, err)
	}
	return nil
}

func (w *pgWriter) Abort(ctx context.Context) error {
	if w.done {
		return nil
	}
	w.done = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("postgres sink: abort: %w", err)
	}
	return nil
}

// batchSource is a pgx.CopyFromSource over one batch, each row followed by
// the object's key (KeyColumn). Its row buffer is
// built once: each slot points at a per-column holder of a pgtype value
// type, so producing a row only stores into the holders (no boxing). Only
// JSON values are boxed ([]byte in an interface), because pgx's jsonb
// encoder has no allocation-free value interface. String and JSON values
// alias the batch's bytes, which is safe because CopyFrom encodes each row
// before Write returns.
type batchSource struct {
	b   *schema.Batch
	i   int
	row []any

	bools  []pgtype.Bool
	ints   []pgtype.Int8
	floats []pgtype.Float8
	dates  []pgtype.Date
	times  []pgtype.Timestamptz
	texts  []pgtype.Text
	key    pgtype.Text
}

func (s *batchSource) init(fields []schema.Field, key string) {
	n := len(fields)
	s.row = make([]any, n+1)
	s.key = pgtype.Text{String: cleanText(key), Valid: true}
	s.row[n] = &s.key
	s.bools = make([]pgtype.Bool, n)
	s.ints = make([]pgtype.Int8, n)
	s.floats = make([]pgtype.Float8, n)
	s.dates = make([]pgtype.Date, n)
	s.times = make([]pgtype.Timestamptz, n)
	s.texts = make([]pgtype.Text, n)
	for c, f := range fields {
		switch f.Type {
		case schema.Bool:
			s.row[c] = &s.bools[c]
		case schema.Int64:
			s.row[c] = &s.ints[c]
		case schema.Float64:
			s.row[c] = &s.floats[c]
		case schema.Date:
			s.row[c] = &s.dates[c]
		case schema.Timestamp:
			s.row[c] = &s.times[c]
		case schema.String:
			s.row[c] = &s.texts[c]
		}
	}
}

func (s *batchSource) reset(b *schema.Batch) {
	s.b, s.i = b, -1
	for c := range s.texts {
		s.texts[c] = pgtype.Text{}
	}
	if b == nil {
		for c := range s.row {
			if _, ok := s.row[c].([]byte); ok {
				s.row[c] = nil
			}
		}
	}
}

// Next implements pgx.CopyFromSource.
func (s *batchSource) Next() bool {
	s.i++
	return s.i < s.b.Len()
}

// Values implements pgx.CopyFromSource.
func (s *batchSource) Values() ([]any, error) {
	i := s.i
	for c := range s.b.Cols {
		v := &s.b.Cols[c]
		valid := !v.Nulls[i]
		switch v.Type {
		case schema.Bool:
			s.bools[c] = pgtype.Bool{Bool: v.Bools[i], Valid: valid}
		case schema.Int64:
			s.ints[c] = pgtype.Int8{Int64: v.Ints[i], Valid: valid}
		case schema.Float64:
			s.floats[c] = pgtype.Float8{Float64: v.Floats[i], Valid: valid}
		case schema.Date:
			s.dates[c] = pgtype.Date{Time: schema.TimeFromDate(v.Ints[i]), Valid: valid}
		case schema.Timestamp:
			s.times[c] = pgtype.Timestamptz{Time: schema.TimeFromTimestamp(v.Ints[i]), Valid: valid}
		case schema.String:
			s.texts[c] = pgtype.Text{String: aliasString(v, i), Valid: valid}
		case schema.JSON:
			if valid {
				s.row[c] = v.Bytes[v.Offsets[i]:v.Offsets[i+1]:v.Offsets[i+1]]
			} else {
				s.row[c] = nil
			}
		}
	}
	return s.row, nil
}

// Err implements pgx.CopyFromSource.
func (s *batchSource) Err() error { return nil }

// aliasString returns value i of a string vector without copying it. The
// string must not outlive the batch's current contents.
func aliasString(v *schema.Vector, i int) string {
	b := v.Bytes[v.Offsets[i]:v.Offsets[i+1]]
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
