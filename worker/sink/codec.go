package sink

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
	pierrec "github.com/pierrec/lz4/v4"
)

// Codec names the Parquet compression codec of a dataset's data files
// (Settings.Compression). Every codec here is read by DuckDB, Spark,
// pyarrow and parquet-go (LZ4_RAW by recent versions only: Spark 3.3+,
// pyarrow 7+).
//
// Measured on 256 Ki rows × 12 mixed columns (BenchmarkFileSinkCodec, one
// core, CPU time of the whole write / file size): parquet-go's Snappy
// (s2 "better" mode) ~121 ms / 15.4 MB; Snappy, s2 default mode ~86 ms /
// 16.3 MB; LZ4_RAW ~115 ms / 15.7 MB; zstd fastest ~146 ms / 12.4 MB; gzip
// ~250 ms / 11.7 MB; none ~72 ms / 28.1 MB. Snappy in s2's default mode
// is the default: the cheapest codec that compresses, 6 % larger files
// than parquet-go's Snappy for 30 % less CPU, and the codec every Parquet
// reader reads. zstd is the choice for 24 % smaller files at ~1.7× the
// CPU.
type Codec string

// Codecs.
const (
	// CodecDefault ("") is the sink's default codec (FileOptions.Compression,
	// Snappy unless the daemon sets another).
	CodecDefault Codec = ""
	// CodecSnappy is SNAPPY, written by s2's Snappy-compatible encoder in
	// its default mode (parquet-go's own Snappy codec uses s2's "better"
	// mode: about 2× the CPU for a few percent smaller files).
	CodecSnappy Codec = "snappy"
	// CodecZstd is ZSTD at zstd's fastest level: smaller files for more
	// CPU.
	CodecZstd Codec = "zstd"
	// CodecLZ4Raw is LZ4_RAW (block format, the fast compressor).
	CodecLZ4Raw Codec = "lz4_raw"
	// CodecGzip is GZIP at its default level: the slowest; for readers
	// that know nothing else.
	CodecGzip Codec = "gzip"
	// CodecNone writes pages uncompressed.
	CodecNone Codec = "none"
)

// Codecs lists the valid Codec values (CodecDefault aside), in the order
// error messages name them.
var Codecs = []Codec{CodecSnappy, CodecZstd, CodecLZ4Raw, CodecNone, CodecGzip}

// Validate checks that c is a known codec; the error names the field.
func (c Codec) Validate() error {
	if c == CodecDefault || c.codec() != nil {
		return nil
	}
	return fmt.Errorf("%w: compression %q: want snappy, zstd, lz4_raw, none or gzip", ErrInvalidSchema, string(c))
}

// ParquetCodec returns the parquet-go codec of c, or nil for CodecDefault
// and unknown names. The codecs are shared and safe for concurrent use.
func (c Codec) ParquetCodec() compress.Codec { return c.codec() }

func (c Codec) codec() compress.Codec {
	switch c {
	case CodecSnappy:
		return &fastSnappy
	case CodecZstd:
		return &zstdFastest
	case CodecLZ4Raw:
		return &lz4Fast
	case CodecGzip:
		return &parquet.Gzip
	case CodecNone:
		return &parquet.Uncompressed
	}
	return nil
}

// The codecs' shared instances: zstd's keeps a pool of encoders.
var (
	fastSnappy  snappyCodec
	zstdFastest = zstd.Codec{Level: zstd.SpeedFastest}
	lz4Fast     lz4Codec
)

// snappyCodec is SNAPPY encoded by s2's Snappy-compatible encoder in its
// default mode (s2.EncodeSnappy): the output is plain Snappy blocks, so any
// Snappy reader decodes it.
type snappyCodec struct{}

func (snappyCodec) String() string                            { return "SNAPPY" }
func (snappyCodec) CompressionCodec() format.CompressionCodec { return format.Snappy }

// Encode compresses src into dst's storage when it is large enough.
func (snappyCodec) Encode(dst, src []byte) ([]byte, error) {
	return s2.EncodeSnappy(dst, src), nil
}

// Decode decompresses src (parquet-go's Snappy decoder).
func (snappyCodec) Decode(dst, src []byte) ([]byte, error) { return parquet.Snappy.Decode(dst, src) }

// lz4Codec is LZ4_RAW by pierrec/lz4's fast block compressor, whose
// compressors (a 64 Ki-entry hash table each) are pooled: parquet-go's
// LZ4_RAW codec allocates and zeroes one for every page.
type lz4Codec struct{ compressors sync.Pool }

func (*lz4Codec) String() string                            { return "LZ4_RAW" }
func (*lz4Codec) CompressionCodec() format.CompressionCodec { return format.Lz4Raw }

// Encode compresses src into dst's storage when it is large enough.
func (c *lz4Codec) Encode(dst, src []byte) ([]byte, error) {
	n := pierrec.CompressBlockBound(len(src))
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	z, _ := c.compressors.Get().(*pierrec.Compressor)
	if z == nil {
		z = new(pierrec.Compressor)
	}
	defer c.compressors.Put(z)
	m, err := z.CompressBlock(src, dst)
	if err != nil {
		return dst[:0], err
	}
	return dst[:m], nil
}

// Decode decompresses src (parquet-go's LZ4_RAW decoder).
func (*lz4Codec) Decode(dst, src []byte) ([]byte, error) { return parquet.Lz4Raw.Decode(dst, src) }
