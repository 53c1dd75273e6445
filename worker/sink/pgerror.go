package sink

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresError is a PostgreSQL error met by the PostgreSQL sink, classified
// by its SQLSTATE: errors that the same statement meets again (invalid
// data, a column named like a system column, a missing privilege, a
// PostgreSQL limit) are permanent, with a fix; the others (lock timeouts,
// serialization failures, a server shutting down, connection trouble) are
// transient. Data and integrity errors (classes 22 and 23, e.g. a value too
// long for varchar(n)) also match ErrInvalidValue.
type PostgresError struct {
	// Op is what the sink was doing, e.g. "copy rows into".
	Op string
	// Table is the (quoted) table it was doing it to.
	Table string
	// Code is the SQLSTATE, e.g. "42701".
	Code string
	// Err is the driver's error (a *pgconn.PgError inside).
	Err error
}

// Error names the operation, the table and PostgreSQL's error, then the
// fix when there is one.
func (e *PostgresError) Error() string {
	msg := "postgres sink: " + e.Op + " " + e.Table + ": " + e.Err.Error()
	if fix := e.Fix(); fix != "" {
		msg += ": " + fix
	}
	return msg
}

// Unwrap returns the driver's error, and ErrInvalidValue for data and
// integrity errors.
func (e *PostgresError) Unwrap() []error {
	if dataError(e.Code) {
		return []error{ErrInvalidValue, e.Err}
	}
	return []error{e.Err}
}

// dataError reports whether code is of class 22 (data exception) or 23
// (integrity constraint violation).
func dataError(code string) bool {
	return strings.HasPrefix(code, "22") || strings.HasPrefix(code, "23")
}

// permanentPGCodes are the SQLSTATEs outside classes 22, 23 and 54 that the
// same statement meets again.
var permanentPGCodes = map[string]bool{
	"42501": true, // insufficient_privilege
	"42701": true, // duplicate_column (also: a system column's name)
	"42939": true, // reserved_name
	"42602": true, // invalid_name
	"42622": true, // name_too_long
	"42611": true, // invalid_column_definition
	"42P16": true, // invalid_table_definition
	"42804": true, // datatype_mismatch
	"0A000": true, // feature_not_supported
}

// Permanent reports whether the same statement fails again: data and
// integrity errors (22, 23), program limits (54, e.g. 54011 too many
// columns), and the access and definition errors of permanentPGCodes.
func (e *PostgresError) Permanent() bool {
	return dataError(e.Code) || strings.HasPrefix(e.Code, "54") || permanentPGCodes[e.Code]
}

// Fix says what to change, for the permanent codes.
func (e *PostgresError) Fix() string {
	var pe *pgconn.PgError
	msg := ""
	if errors.As(e.Err, &pe) {
		msg = pe.Message
	}
	switch {
	case e.Code == "42701" && strings.Contains(msg, "system column"):
		return "PostgreSQL reserves the column names tableoid, xmin, cmin, xmax, cmax and ctid: rename that column in the source"
	case e.Code == "42701":
		return "the table would have the column twice: rename one of them in the source"
	case e.Code == "42501":
		return "grant the sink's PostgreSQL role the privilege it lacks (CREATE on the database or on the workspace's schema, INSERT on the dataset's tables), or have an administrator create the schema and tables"
	case e.Code == "54011":
		return "PostgreSQL tables hold at most 1600 columns: drop columns at the source, or split the data into several datasets"
	case strings.HasPrefix(e.Code, "54"):
		return "the data exceeds a PostgreSQL limit: make the rows or values smaller at the source"
	case dataError(e.Code):
		return "fix the value at the source, or change the table's column type"
	case permanentPGCodes[e.Code]:
		return "PostgreSQL refuses the table's definition: rename or retype the column in the source, or alter the table"
	}
	return ""
}

// pgError wraps err, met doing what to table (quoted): a *PostgresError
// when PostgreSQL answered, else err with that context.
func pgError(what, table string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &PostgresError{Op: what, Table: table, Code: pe.Code, Err: err}
	}
	return fmt.Errorf("postgres sink: %s %s: %w", what, table, err)
}
