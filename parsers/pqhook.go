package parsers

import (
	"context"
	"fmt"
)

// openParquetHook and previewParquetHook call the Parquet reader
// (parquet.go) once it is part of the package.
func openParquetHook(ctx context.Context, obj Object, opts Options) (Reader, error) {
	return nil, &ParseError{Object: obj.Name(), RowGroup: -1, Err: fmt.Errorf("%w: the Parquet reader is not built in yet", ErrUnsupported)}
}

func previewParquetHook(ctx context.Context, obj Object, opts Options, rows int) (*PreviewResult, error) {
	return nil, &ParseError{Object: obj.Name(), RowGroup: -1, Err: fmt.Errorf("%w: the Parquet reader is not built in yet", ErrUnsupported)}
}
