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
// names are silently truncated by the server, so they are refused here.
const maxIdent = 63

// DefaultLockTimeout bounds how long Begin waits for a table lock when it
// has to create or alter a dataset's table.
const DefaultLockTimeout = 30 * time.Second

// PostgresOptions configure a Postgres sink. The zero value uses the
// defaults.
type PostgresOptions struct {
	// MaxConns bounds the pool (default: pgxpool's, max(4, CPUs)). Each
	// open Writer holds one connection.
	MaxConns int32
	// LockTimeout bounds waiting for DDL locks (default DefaultLockTimeout).
	// ALTER TABLE waits for running writers of the same dataset; on timeout
	// Begin fails with a transient error.
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
//	"ws_<workspace>"."<dataset>"            rows
//	"ws_<workspace>"."<dataset>_rejects"    rejected rows
//	s3ingest_ledger                         one row per committed object version
//
// The schema is created on a workspace's first Begin, which needs the
// CREATE privilege on the database (or the schema created beforehand by an
// administrator). Names are limited to 63 bytes by PostgreSQL, so this sink
// accepts workspace IDs of at most MaxPostgresWorkspaceID (60) bytes and
// dataset names of at most 55 (room for "_rejects"); longer ones fail with
// ErrInvalidDataset naming the field. A ledger table created by an earlier
// version (without the workspace column) is upgraded in place by
// OpenPostgres: its rows get the empty workspace, which no dataset has.
//
// Column types: bool -> boolean, int64 -> bigint, float64 -> double
// precision, date -> date, timestamp -> timestamptz, string -> text,
// json -> jsonb (PostgreSQL normalises jsonb: whitespace and key order are
// not kept, and of duplicate keys the last wins). A table is created on the first Begin (non-nullable fields
// NOT NULL). Later schemas are matched by column name: new columns are added
// (nullable); a column whose type differs fails Begin with
// ErrIncompatibleSchema; table columns the object lacks are left null.
//
// Each Writer runs one transaction: batches go in through binary COPY,
// rejects through COPY, and Commit inserts the ledger row with ON CONFLICT
// DO NOTHING; if the row was already there (a concurrent retry committed
// first) the transaction is rolled back and Commit returns nil.
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
		return upgradeLedger(ctx, tx)
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

// tableColumns returns the columns of a table (schema-qualified and
// quoted), or nil if it or its schema does not exist.
func tableColumns(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, table string) (map[string]pgColumn, error) {
	rows, err := q.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef
FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols map[string]pgColumn
	for rows.Next() {
		var name string
		var c pgColumn
		if err := rows.Scan(&name, &c.typ, &c.notNull, &c.hasDefault); err != nil {
			return nil, err
		}
		if cols == nil {
			cols = map[string]pgColumn{}
		}
		cols[name] = c
	}
	return cols, rows.Err()
}

// plan compares a schema with a table's columns (table is the quoted
// name, for messages): the columns to add, and an error for incompatible
// ones.
func plan(table string, fields []schema.Field, cols map[string]pgColumn) (add []schema.Field, err error) {
	in := make(map[string]bool, len(fields))
	for _, f := range fields {
		in[f.Name] = true
		c, ok := cols[f.Name]
		if !ok {
			add = append(add, f)
			continue
		}
		if !pgCompatible(f.Type, c.typ) {
			return nil, fmt.Errorf("%w: table %s column %q is %s, but the object's column is %s (needs %s): rename the column in the source, or alter or drop the table column",
				ErrIncompatibleSchema, table, f.Name, c.typ, f.Type, pgType(f.Type))
		}
	}
	for name, c := range cols {
		if !in[name] && c.notNull && !c.hasDefault {
			return nil, fmt.Errorf("%w: table %s column %q is NOT NULL without a default, and the object has no such column: give it a default or drop NOT NULL",
				ErrIncompatibleSchema, table, name)
		}
	}
	return add, nil
}

func createTableSQL(table string, fields []schema.Field) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS ")
	b.WriteString(table)
	b.WriteString(" (")
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgx.Identifier{f.Name}.Sanitize())
		b.WriteByte(' ')
		b.WriteString(pgType(f.Type))
		if !f.Nullable {
			b.WriteString(" NOT NULL")
		}
	}
	b.WriteString(")")
	return b.String()
}

const rejectsColumns = `bucket text NOT NULL, key text NOT NULL, version text NOT NULL, size bigint NOT NULL,
	line bigint, "row" bigint, "column" text, value text, error text NOT NULL,
	rejected_at timestamptz NOT NULL DEFAULT clock_timestamp()`

var rejectsCopyColumns = []string{"bucket", "key", "version", "size", "line", "row", "column", "value", "error"}

// ensureTable creates or evolves the dataset's table (and its workspace's
// schema and its rejects table) and returns its columns.
func (p *Postgres) ensureTable(ctx context.Context, t pgTable, fields []schema.Field) (map[string]pgColumn, error) {
	cols, err := tableColumns(ctx, p.pool, t.quoted)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: read table %s: %w", t.quoted, err)
	}
	if cols != nil {
		add, err := plan(t.quoted, fields, cols)
		if err != nil {
			return nil, err
		}
		var hasRejects bool
		if err := p.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, t.rejects.Sanitize()).Scan(&hasRejects); err != nil {
			return nil, fmt.Errorf("postgres sink: read table %s: %w", t.rejects.Sanitize(), err)
		}
		if len(add) == 0 && hasRejects {
			return cols, nil
		}
	}
	// Create or alter under the dataset's advisory lock, re-reading the
	// catalogue inside it.
	err = p.ddl(ctx, t.quoted, func(tx pgx.Tx) error {
		if cols == nil {
			if err := ensureSchema(ctx, tx, t.schema); err != nil {
				return err
			}
		}
		cols, err = tableColumns(ctx, tx, t.quoted)
		if err != nil {
			return err
		}
		if cols == nil {
			if _, err := tx.Exec(ctx, createTableSQL(t.quoted, fields)); err != nil {
				return err
			}
		} else {
			add, err := plan(t.quoted, fields, cols)
			if err != nil {
				return err
			}
			for _, f := range add {
				if _, err := tx.Exec(ctx, "ALTER TABLE "+t.quoted+" ADD COLUMN IF NOT EXISTS "+
					pgx.Identifier{f.Name}.Sanitize()+" "+pgType(f.Type)); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+t.rejects.Sanitize()+" ("+rejectsColumns+")"); err != nil {
			return err
		}
		cols, err = tableColumns(ctx, tx, t.quoted)
		return err
	})
	if err != nil {
		return nil, err
	}
	return cols, nil
}

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

// Begin creates or evolves the dataset's table, then opens the Writer's
// transaction.
func (p *Postgres) Begin(ctx context.Context, ds Dataset, obj ObjectRef, plan Plan) (Writer, error) {
	sch := ColumnsSchema(plan.Columns)
	t, err := pgDataset(ds)
	if err != nil {
		return nil, err
	}
	if err := obj.validate(); err != nil {
		return nil, err
	}
	if err := validateSchema(sch); err != nil {
		return nil, err
	}
	fields := append([]schema.Field(nil), sch.Fields...)
	for _, f := range fields {
		if len(f.Name) > maxIdent {
			return nil, fmt.Errorf("%w: column %q is %d bytes long, PostgreSQL allows at most %d", ErrInvalidSchema, shorten(f.Name), len(f.Name), maxIdent)
		}
	}
	cols, err := p.ensureTable(ctx, t, fields)
	if err != nil {
		return nil, err
	}
	w := &pgWriter{
		p:       p,
		ds:      ds,
		table:   t,
		obj:     obj,
		fields:  fields,
		names:   make([]string, len(fields)),
		notNull: make([]bool, len(fields)),
	}
	for i, f := range fields {
		w.names[i] = f.Name
		w.notNull[i] = f.Nullable && cols[f.Name].notNull
	}
	w.src.init(fields)
	w.tx, err = p.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: begin: %w", err)
	}
	return w, nil
}

// pgWriter is one object version's transaction.
type pgWriter struct {
	p       *Postgres
	ds      Dataset
	table   pgTable
	obj     ObjectRef
	fields  []schema.Field
	names   []string
	notNull []bool // nullable in the schema but NOT NULL in the table

	tx       pgx.Tx
	src      batchSource
	rows     int64
	rejects  [][]any
	nRejects int64

	err  error
	done bool
}

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
	if len(w.fields) == 0 {
		// A table without columns can only count rows.
		w.rows += int64(b.Len())
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
		return nil
	}
	if err := w.tx.Commit(ctx); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" && pe.TableName == LedgerTable {
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

// batchSource is a pgx.CopyFromSource over one batch. Its row buffer is
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
}

func (s *batchSource) init(fields []schema.Field) {
	n := len(fields)
	s.row = make([]any, n)
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
