package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// setLockTimeout bounds the transaction's lock waits (until
// resetLockTimeout): a lock timeout fails the statement with SQLSTATE
// 55P03, which is transient.
func setLockTimeout(ctx context.Context, tx pgx.Tx, d time.Duration) error {
	_, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, strconv.FormatInt(d.Milliseconds(), 10))
	return err
}

// resetLockTimeout restores the session's lock timeout for the rest of the
// transaction.
func resetLockTimeout(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SET LOCAL lock_timeout TO DEFAULT`)
	return err
}

// needsEvolution reports whether committing plan needs the catalog row's
// lock: no catalog row yet, a plan column the catalog lacks or has with
// another type, or a table without the key column or without its rejects
// table.
func needsEvolution(cat *pgCatalogRow, tab pgTableState, plan Plan) bool {
	if cat == nil || !tab.exists || !tab.rejects {
		return true
	}
	if _, ok := tab.cols[KeyColumn]; !ok {
		return true
	}
	for _, pc := range plan.Columns {
		c := cat.column(pc.Name)
		if c == nil || c.Type != pc.Type {
			return true
		}
	}
	return false
}

// evolution is the schema-changing part of an object's transaction: under
// the dataset's catalog row lock it creates or alters the table and
// records the change.
type evolution struct {
	p    *Postgres
	tx   pgx.Tx
	t    pgTable
	ds   Dataset
	obj  *ObjectRef // nil: registering a table created before the catalog
	plan Plan
	// addOnly: only add the plan's new columns (nullable) to an existing,
	// registered table; planned widenings are left for the object's
	// transaction, and a dataset that does not exist yet is left alone
	// (see Postgres.addColumns).
	addOnly bool

	cat *pgCatalogRow // the catalog row after run
}

// reconciled reports whether plan came from reconciling an object with the
// dataset's record (not PlanFor): a conflict with a concurrent change is
// then resolved by reconciling again.
func reconciled(plan Plan) bool { return plan.Base > 0 || plan.Change != nil }

// widenable reports whether PostgreSQL columns of type from may become to
// in place (int64 → float64 → string, date → timestamp).
func widenable(from, to schema.Type) bool {
	switch {
	case from == schema.Int64 && (to == schema.Float64 || to == schema.String):
		return true
	case from == schema.Float64 && to == schema.String:
		return true
	case from == schema.Date && (to == schema.Timestamp || to == schema.String):
		return true
	case from == schema.Timestamp && to == schema.String:
		return true
	}
	return false
}

// widenUsing returns the USING expression converting column col (quoted)
// of type from to type to.
func widenUsing(col string, from, to schema.Type) string {
	if from == schema.Date && to == schema.Timestamp {
		return "(" + col + "::timestamp AT TIME ZONE 'UTC')"
	}
	return col + "::" + pgType(to)
}

// plannedWidening reports whether the plan's change widens column name to
// type to.
func plannedWidening(plan Plan, name string, to schema.Type) bool {
	if plan.Change == nil {
		return false
	}
	for _, w := range plan.Change.Widened {
		if w.Column == name && w.To == to {
			return true
		}
	}
	return false
}

// run locks the catalog row (inserting it for a new dataset), creates the
// schema and tables or alters the table as the plan needs, and updates the
// catalog row and the history.
func (e *evolution) run(ctx context.Context) error {
	tx, ds, t := e.tx, e.ds, e.t
	if !e.addOnly {
		if err := ensureSchema(ctx, tx, t.schema); err != nil {
			return err
		}
		settings, err := json.Marshal(e.plan.Settings.WithDefaults())
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+DatasetsTable+` (workspace, dataset, version, columns, settings) VALUES ($1, $2, 0, '[]', $3) ON CONFLICT DO NOTHING`,
			ds.Workspace, ds.Name, settings); err != nil {
			return err
		}
	}
	cat, err := readCatalog(ctx, tx, ds, true)
	if err != nil {
		return err
	}
	if cat == nil && !e.addOnly {
		return fmt.Errorf("catalog row of %s vanished", ds)
	}
	tab, err := readTable(ctx, tx, t)
	if err != nil {
		return err
	}
	if e.addOnly && (cat == nil || cat.version == 0 || !tab.exists || !tab.rejects || !hasKey(tab)) {
		e.cat = cat
		return nil // created or registered by the object's transaction
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var changes []SchemaChange
	cols := cat.columns
	version := cat.version
	if version == 0 && tab.exists {
		cols = columnsFromTable(tab, now)
		version++
		changes = append(changes, SchemaChange{Version: version, At: now, Added: cols,
			Reason: "registered the existing table " + t.quoted + " (created before the dataset catalog)"})
	}
	creating := version == 0
	taken := map[string]bool{KeyColumn: true}
	for _, name := range tab.order {
		taken[name] = true
	}
	for _, c := range cols {
		taken[c.StoredName()] = true
	}
	objName := ""
	if e.obj != nil {
		objName = objectName(*e.obj)
	}
	var added []Column
	var widened []Widening
	var alter []string
	for _, pc := range e.plan.Columns {
		i := -1
		for j := range cols {
			if cols[j].Name == pc.Name {
				i = j
				break
			}
		}
		if i < 0 {
			c := pc
			c.Stored = ""
			if s := pgStoredName(pc.Name, taken); s != pc.Name {
				c.Stored = s
			}
			taken[c.StoredName()] = true
			if !creating {
				c.Nullable = true // rows already in the table have no value
			}
			if c.AddedBy == "" && !IsReserved(c.Name) {
				c.AddedBy = objName // reserved columns are added by no object
			}
			c.AddedAt = now
			cols = append(cols, c)
			added = append(added, c)
			if !creating {
				alter = append(alter, "ADD COLUMN "+pgx.Identifier{c.StoredName()}.Sanitize()+" "+pgType(c.Type))
			}
			continue
		}
		have := &cols[i]
		if have.Type == pc.Type {
			continue
		}
		if !have.Pinned && widenable(have.Type, pc.Type) && plannedWidening(e.plan, pc.Name, pc.Type) {
			if e.addOnly {
				continue // in the object's transaction
			}
			q := pgx.Identifier{have.StoredName()}.Sanitize()
			alter = append(alter, "ALTER COLUMN "+q+" TYPE "+pgType(pc.Type)+" USING "+widenUsing(q, have.Type, pc.Type))
			widened = append(widened, Widening{Column: pc.Name, From: have.Type, To: pc.Type})
			have.Type = pc.Type
			if pc.Reason != "" {
				have.Reason = pc.Reason
			}
			continue
		}
		if reconciled(e.plan) {
			return &SchemaConflictError{Dataset: ds, Column: pc.Name, Have: have.Type, Want: pc.Type}
		}
		return fmt.Errorf("%w: table %s column %q is %s, but the object's column is %s (needs %s): rename the column in the source, or alter or drop the table column",
			ErrIncompatibleSchema, t.quoted, have.StoredName(), pgType(have.Type), pc.Type, pgType(pc.Type))
	}
	switch {
	case creating:
		if _, err := tx.Exec(ctx, createTableSQL(t.quoted, cols)); err != nil {
			return err
		}
	case len(alter) > 0 || !hasKey(tab):
		if !hasKey(tab) {
			alter = append(alter, "ADD COLUMN "+pgx.Identifier{KeyColumn}.Sanitize()+" text")
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE "+t.quoted+" "+strings.Join(alter, ", ")); err != nil {
			return err
		}
	}
	if !e.addOnly {
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+t.rejects.Sanitize()+" ("+rejectsColumns+")"); err != nil {
			return err
		}
	}
	if creating || len(added) > 0 || len(widened) > 0 {
		version++
		ch := SchemaChange{Version: version, At: now, Object: objName, Added: added, Widened: widened}
		pch := e.plan.Change
		switch {
		case pch != nil && pch.Reason != "" && (pch.Version == 1) == creating &&
			(creating || len(added) == len(pch.Added) && len(widened) == len(pch.Widened)):
			ch.Reason = pch.Reason
		case creating:
			ch.Reason = "created from " + objName
		case len(added) > 0 && len(widened) > 0:
			ch.Reason = "new columns and wider types in " + objName
		case len(added) > 0:
			ch.Reason = "new columns in " + objName
		default:
			ch.Reason = "wider types in " + objName
		}
		changes = append(changes, ch)
	}
	if len(changes) > 0 {
		cj, err := json.Marshal(cols)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE `+DatasetsTable+` SET version = $3, columns = $4, updated_at = $5 WHERE workspace = $1 AND dataset = $2`,
			ds.Workspace, ds.Name, version, cj, now); err != nil {
			return err
		}
		for _, ch := range changes {
			b, err := json.Marshal(ch)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+HistoryTable+` (workspace, dataset, version, change, at) VALUES ($1, $2, $3, $4, $5)`,
				ds.Workspace, ds.Name, ch.Version, b, ch.At); err != nil {
				return err
			}
		}
		cat.version, cat.columns, cat.updated = version, cols, now
	}
	e.cat = cat
	return nil
}

func hasKey(tab pgTableState) bool {
	_, ok := tab.cols[KeyColumn]
	return ok
}

// createTableSQL creates a dataset's table: its columns under their stored
// names (NOT NULL where not nullable), then KeyColumn.
func createTableSQL(table string, cols []Column) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(table)
	b.WriteString(" (")
	for _, c := range cols {
		b.WriteString(pgx.Identifier{c.StoredName()}.Sanitize())
		b.WriteByte(' ')
		b.WriteString(pgType(c.Type))
		if !c.Nullable {
			b.WriteString(" NOT NULL")
		}
		b.WriteString(", ")
	}
	b.WriteString(pgx.Identifier{KeyColumn}.Sanitize())
	b.WriteString(" text)")
	return b.String()
}
