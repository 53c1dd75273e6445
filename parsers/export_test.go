package parsers

// Test helpers of package parsers exported to its external tests (package
// parsers_test, which the conformance harness parserstest requires, since
// parserstest imports parsers).

// ParquetConfRow is a row of the Parquet conformance cases.
type ParquetConfRow = pqConfRow

// ParquetConfRows returns n rows of the Parquet conformance cases.
var ParquetConfRows = pqConfRows
