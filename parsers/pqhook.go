package parsers

import "context"

// openParquetHook and previewParquetHook are where the text formats' code
// hands over to the Parquet reader (parquet.go).
func openParquetHook(ctx context.Context, obj Object, opts Options) (Reader, error) {
	return openParquet(ctx, obj, opts)
}

func previewParquetHook(ctx context.Context, obj Object, opts Options, rows int) (*PreviewResult, error) {
	return previewParquet(ctx, obj, opts, rows)
}
