package sink

import "errors"

// INTERIM (issue 8 in progress): used by interim_pg.go until the PostgreSQL
// catalog tables land; delete with it. The FileSink's catalog is in
// file_catalog.go.

var errCatalogPending = errors.New("dataset catalog: not available in this build")
