package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Catalog tables, beside the ledger (in the connection's search_path).
const (
	// DatasetsTable holds one row per dataset: its schema version, columns
	// and settings.
	DatasetsTable = "s3ingest_datasets"
	// HistoryTable holds one row per schema version of each dataset.
	HistoryTable = "s3ingest_dataset_history"
)

// createCatalog creates the catalog tables if they do not exist (run with
// the ledger's creation, under its lock).
func createCatalog(ctx context.Context, tx pgx.Tx) error {
	for _, q := range []string{`CREATE TABLE IF NOT EXISTS ` + DatasetsTable + ` (
	workspace  text        NOT NULL,
	dataset    text        NOT NULL,
	version    bigint      NOT NULL,
	columns    jsonb       NOT NULL,
	settings   jsonb       NOT NULL,
	created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (workspace, dataset)
)`, `CREATE TABLE IF NOT EXISTS ` + HistoryTable + ` (
	workspace text        NOT NULL,
	dataset   text        NOT NULL,
	version   bigint      NOT NULL,
	change    jsonb       NOT NULL,
	at        timestamptz NOT NULL,
	PRIMARY KEY (workspace, dataset, version)
)`} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// querier is what pgxpool.Pool and pgx.Tx share.
type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}

// pgCatalogRow is a dataset's row of DatasetsTable.
type pgCatalogRow struct {
	version          int64
	columns          []Column
	settings         Settings
	created, updated time.Time
}

// column returns the catalog's column named name, or nil.
func (c *pgCatalogRow) column(name string) *Column {
	for i := range c.columns {
		if c.columns[i].Name == name {
			return &c.columns[i]
		}
	}
	return nil
}

// readCatalog reads ds's catalog row (locking it with forUpdate), or nil
// when there is none.
func readCatalog(ctx context.Context, q querier, ds Dataset, forUpdate bool) (*pgCatalogRow, error) {
	sql := `SELECT version, columns, settings, created_at, updated_at FROM ` + DatasetsTable + ` WHERE workspace = $1 AND dataset = $2`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	var r pgCatalogRow
	var cols, set []byte
	err := q.QueryRow(ctx, sql, ds.Workspace, ds.Name).Scan(&r.version, &cols, &set, &r.created, &r.updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cols, &r.columns); err != nil {
		return nil, fmt.Errorf("dataset %s: catalog columns: %w", ds, err)
	}
	if err := json.Unmarshal(set, &r.settings); err != nil {
		return nil, fmt.Errorf("dataset %s: catalog settings: %w", ds, err)
	}
	return &r, nil
}

// pgTableState is what the PostgreSQL catalogue says of a dataset's tables.
type pgTableState struct {
	exists  bool
	order   []string // column names by position
	cols    map[string]pgColumn
	rejects bool // the rejects table exists
}

// readTable reads the columns of t's table and whether its rejects table
// exists.
func readTable(ctx context.Context, q querier, t pgTable) (pgTableState, error) {
	var s pgTableState
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL`, t.quoted, t.rejects.Sanitize()).Scan(&s.exists, &s.rejects); err != nil {
		return s, err
	}
	if !s.exists {
		return s, nil
	}
	rows, err := q.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef
FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`, t.quoted)
	if err != nil {
		return s, err
	}
	defer rows.Close()
	s.cols = map[string]pgColumn{}
	for rows.Next() {
		var name string
		var c pgColumn
		if err := rows.Scan(&name, &c.typ, &c.notNull, &c.hasDefault); err != nil {
			return s, err
		}
		s.order = append(s.order, name)
		s.cols[name] = c
	}
	return s, rows.Err()
}

// schemaType returns the schema type of a PostgreSQL column type (as
// printed by format_type), and whether it is one the sink writes.
func schemaType(pg string) (schema.Type, bool) {
	switch {
	case pg == "boolean":
		return schema.Bool, true
	case pg == "bigint":
		return schema.Int64, true
	case pg == "double precision":
		return schema.Float64, true
	case pg == "date":
		return schema.Date, true
	case pg == "timestamp with time zone":
		return schema.Timestamp, true
	case pg == "jsonb" || pg == "json":
		return schema.JSON, true
	case pg == "text" || strings.HasPrefix(pg, "character varying"):
		return schema.String, true
	}
	return schema.String, false
}

// columnsFromTable builds the catalog columns of a table created before
// the catalog existed: every column but KeyColumn, under its own name.
func columnsFromTable(tab pgTableState, at time.Time) []Column {
	var cols []Column
	for _, name := range tab.order {
		if name == KeyColumn {
			continue
		}
		c := tab.cols[name]
		typ, ok := schemaType(c.typ)
		reason := "column of the table created before the dataset catalog"
		if !ok {
			reason += " (PostgreSQL type " + c.typ + ", loaded as text)"
		}
		cols = append(cols, Column{Name: name, Type: typ, Nullable: !c.notNull, AddedAt: at, Reason: reason})
	}
	return cols
}

// ensureCatalog makes sure ds has a catalog row when its table exists
// (a table created before the catalog gets one built from its columns),
// and returns the row, or nil when the dataset does not exist.
func (p *Postgres) ensureCatalog(ctx context.Context, ds Dataset, t pgTable) (*pgCatalogRow, error) {
	cat, err := readCatalog(ctx, p.pool, ds, false)
	if err != nil || cat != nil {
		return cat, err
	}
	tab, err := readTable(ctx, p.pool, t)
	if err != nil || !tab.exists {
		return nil, err
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer rollback(ctx, tx)
	if err := setLockTimeout(ctx, tx, p.opt.LockTimeout); err != nil {
		return nil, err
	}
	ev := evolution{p: p, tx: tx, t: t, ds: ds, plan: Plan{Settings: Settings{}.WithDefaults()}}
	if err := ev.run(ctx); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return readCatalog(ctx, p.pool, ds, false)
}

// datasetInfo returns the record of ds from its catalog row and the
// ledger's counts.
func (p *Postgres) datasetInfo(ctx context.Context, ds Dataset, cat *pgCatalogRow) (*DatasetInfo, error) {
	info := &DatasetInfo{Workspace: ds.Workspace, Name: ds.Name, Version: cat.version, Columns: cat.columns,
		Settings: cat.settings, Created: cat.created, Updated: cat.updated}
	var last *time.Time
	if err := p.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(rows), 0)::bigint, max(committed_at) FROM `+LedgerTable+` WHERE workspace = $1 AND dataset = $2`,
		ds.Workspace, ds.Name).Scan(&info.Objects, &info.Rows, &last); err != nil {
		return nil, err
	}
	if last != nil && last.After(info.Updated) {
		info.Updated = *last
	}
	if info.Columns == nil {
		info.Columns = []Column{}
	}
	return info, nil
}

// Dataset returns the record of ds: its columns (with their stored names),
// schema version and settings from the catalog table, and its object and
// row counts from the ledger (objects committed and not replaced). Updated
// is the later of the last schema change and the last commit. A table
// created before the catalog existed gets its catalog row now.
func (p *Postgres) Dataset(ctx context.Context, ds Dataset) (*DatasetInfo, error) {
	t, err := pgDataset(ds)
	if err != nil {
		return nil, err
	}
	cat, err := p.ensureCatalog(ctx, ds, t)
	if err != nil {
		return nil, pgError("read the catalog of", t.quoted, err)
	}
	if cat == nil {
		return nil, fmt.Errorf("dataset %s: %w", ds, ErrDatasetNotFound)
	}
	info, err := p.datasetInfo(ctx, ds, cat)
	if err != nil {
		return nil, pgError("read the ledger of", t.quoted, err)
	}
	return info, nil
}

// Datasets lists the workspace's datasets by name (tables created before
// the catalog existed get their catalog rows first).
func (p *Postgres) Datasets(ctx context.Context, workspace string) ([]DatasetInfo, error) {
	if err := ValidateWorkspace(workspace); err != nil {
		return nil, err
	}
	if len(workspace) > MaxPostgresWorkspaceID {
		return nil, nil
	}
	// Tables of the workspace's schema without a catalog row.
	rows, err := p.pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
AND NOT EXISTS (SELECT 1 FROM `+DatasetsTable+` d WHERE d.workspace = $2 AND d.dataset = c.relname)`, PostgresSchemaName(workspace), workspace)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: list datasets of workspace %q: %w", workspace, err)
	}
	orphans, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres sink: list datasets of workspace %q: %w", workspace, err)
	}
	for _, name := range orphans {
		ds := Dataset{Workspace: workspace, Name: name}
		t, err := pgDataset(ds)
		if err != nil {
			continue // a rejects table, or a table the sink did not create
		}
		if _, err := p.ensureCatalog(ctx, ds, t); err != nil {
			return nil, pgError("register", t.quoted, err)
		}
	}
	rows, err = p.pool.Query(ctx, `SELECT dataset FROM `+DatasetsTable+` WHERE workspace = $1 ORDER BY dataset`, workspace)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: list datasets of workspace %q: %w", workspace, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres sink: list datasets of workspace %q: %w", workspace, err)
	}
	out := make([]DatasetInfo, 0, len(names))
	for _, name := range names {
		info, err := p.Dataset(ctx, Dataset{Workspace: workspace, Name: name})
		if errors.Is(err, ErrDatasetNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *info)
	}
	return out, nil
}

// History returns the schema versions of ds, oldest first.
func (p *Postgres) History(ctx context.Context, ds Dataset) ([]SchemaChange, error) {
	if _, err := p.Dataset(ctx, ds); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `SELECT change FROM `+HistoryTable+` WHERE workspace = $1 AND dataset = $2 ORDER BY version`, ds.Workspace, ds.Name)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: history of %s: %w", ds, err)
	}
	raw, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("postgres sink: history of %s: %w", ds, err)
	}
	out := make([]SchemaChange, len(raw))
	for i, b := range raw {
		if err := json.Unmarshal(b, &out[i]); err != nil {
			return nil, fmt.Errorf("postgres sink: history of %s: %w", ds, err)
		}
	}
	return out, nil
}

// Rejects returns up to limit recorded rejected rows of ds (all when
// limit <= 0) in commit order, each with its object version (the ledger
// row of the same commit gives its version ID and ETag).
func (p *Postgres) Rejects(ctx context.Context, ds Dataset, limit int) ([]RecordedReject, error) {
	if _, err := p.Dataset(ctx, ds); err != nil {
		return nil, err
	}
	t, _ := pgDataset(ds)
	var lim any
	if limit > 0 {
		lim = limit
	}
	rows, err := p.pool.Query(ctx, `SELECT r.bucket, r.key, r.version, r.size, coalesce(l.version_id, ''), coalesce(l.etag, ''), l.last_modified,
	coalesce(r.line, 0), coalesce(r."row", 0), coalesce(r."column", ''), coalesce(r.value, ''), r.error
FROM `+t.rejects.Sanitize()+` r
LEFT JOIN `+LedgerTable+` l ON l.workspace = $1 AND l.dataset = $2 AND l.bucket = r.bucket AND l.key = r.key AND l.version = r.version AND l.size = r.size
ORDER BY l.committed_at NULLS LAST, r.rejected_at, r.line, r."row"
LIMIT $3`, ds.Workspace, ds.Name, lim)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" { // no rejects table
			return nil, nil
		}
		return nil, pgError("read rejects of", t.quoted, err)
	}
	defer rows.Close()
	var out []RecordedReject
	for rows.Next() {
		var r RecordedReject
		var version string
		var lm *time.Time
		if err := rows.Scan(&r.Object.Bucket, &r.Object.Key, &version, &r.Object.Size, &r.Object.VersionID, &r.Object.ETag, &lm,
			&r.Line, &r.Row, &r.Column, &r.Value, &r.Error); err != nil {
			return nil, pgError("read rejects of", t.quoted, err)
		}
		if r.Object.ETag == "" && r.Object.VersionID == "" {
			r.Object.ETag = version
		}
		if lm != nil {
			r.Object.LastModified = *lm
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, pgError("read rejects of", t.quoted, err)
	}
	return out, nil
}

// Lookup reports what the ledger of ds has of obj's key: this very version
// (same version and size), and the other versions still loaded (versions
// replaced by a later one leave the ledger in the replacing commit).
func (p *Postgres) Lookup(ctx context.Context, ds Dataset, obj ObjectRef) (Lookup, error) {
	var l Lookup
	if err := validatePGDataset(ds); err != nil {
		return l, err
	}
	if err := obj.validate(); err != nil {
		return l, err
	}
	rows, err := p.pool.Query(ctx, `SELECT version, size, version_id, etag, last_modified FROM `+LedgerTable+`
WHERE workspace = $1 AND dataset = $2 AND bucket = $3 AND key = $4 ORDER BY committed_at`, ds.Workspace, ds.Name, obj.Bucket, obj.Key)
	if err != nil {
		return l, fmt.Errorf("postgres sink: ledger lookup: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var version string
		var lm *time.Time
		o := ObjectRef{Bucket: obj.Bucket, Key: obj.Key}
		if err := rows.Scan(&version, &o.Size, &o.VersionID, &o.ETag, &lm); err != nil {
			return l, fmt.Errorf("postgres sink: ledger lookup: %w", err)
		}
		if lm != nil {
			o.LastModified = *lm
		}
		if version == obj.Version() && o.Size == obj.Size {
			l.Loaded = true
			continue
		}
		l.Earlier = append(l.Earlier, o)
	}
	if err := rows.Err(); err != nil {
		return l, fmt.Errorf("postgres sink: ledger lookup: %w", err)
	}
	return l, nil
}

// Capabilities: PostgreSQL can widen a column's type in place (ALTER
// COLUMN TYPE).
func (p *Postgres) Capabilities() Capabilities { return Capabilities{AlterColumnType: true} }
