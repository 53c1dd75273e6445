package sink

import "context"

// INTERIM (issue 8 in progress): replaced by the PostgreSQL catalog tables.

// Lookup reports whether obj's version is committed (Earlier is not known
// yet).
func (p *Postgres) Lookup(ctx context.Context, ds Dataset, obj ObjectRef) (Lookup, error) {
	ok, err := p.Seen(ctx, ds, obj)
	return Lookup{Loaded: ok}, err
}

// Capabilities: PostgreSQL can ALTER COLUMN TYPE.
func (p *Postgres) Capabilities() Capabilities { return Capabilities{AlterColumnType: true} }

// Dataset is not available yet.
func (p *Postgres) Dataset(context.Context, Dataset) (*DatasetInfo, error) {
	return nil, ErrDatasetNotFound
}

// Datasets is not available yet.
func (p *Postgres) Datasets(context.Context, string) ([]DatasetInfo, error) {
	return nil, errCatalogPending
}

// History is not available yet.
func (p *Postgres) History(context.Context, Dataset) ([]SchemaChange, error) {
	return nil, errCatalogPending
}

// Rejects is not available yet.
func (p *Postgres) Rejects(context.Context, Dataset, int) ([]RecordedReject, error) {
	return nil, errCatalogPending
}
