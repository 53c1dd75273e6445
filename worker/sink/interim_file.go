package sink

import (
	"context"
	"errors"
)

// INTERIM (issue 8 in progress): the catalog and ledger lookups below are
// replaced by the FileSink manifest and the PostgreSQL catalog tables.

var errCatalogPending = errors.New("dataset catalog: not available in this build")

// Lookup reports whether obj's version is committed (Earlier is not known
// yet).
func (s *FileSink) Lookup(ctx context.Context, ds Dataset, obj ObjectRef) (Lookup, error) {
	ok, err := s.Seen(ctx, ds, obj)
	return Lookup{Loaded: ok}, err
}

// Capabilities: a Parquet directory cannot change a column's type.
func (s *FileSink) Capabilities() Capabilities { return Capabilities{} }

// Dataset is not available yet.
func (s *FileSink) Dataset(context.Context, Dataset) (*DatasetInfo, error) {
	return nil, ErrDatasetNotFound
}

// Datasets is not available yet.
func (s *FileSink) Datasets(context.Context, string) ([]DatasetInfo, error) {
	return nil, errCatalogPending
}

// History is not available yet.
func (s *FileSink) History(context.Context, Dataset) ([]SchemaChange, error) {
	return nil, errCatalogPending
}

// Rejects is not available yet.
func (s *FileSink) Rejects(context.Context, Dataset, int) ([]RecordedReject, error) {
	return nil, errCatalogPending
}
