package worker

import (
	"testing"

	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// TestContractCodecReachesThePlan: the payload's compression becomes the
// sink's setting, and on an existing dataset with another codec the job's
// wins for the files it writes (Settings.ForJob) without a contract
// difference.
func TestContractCodecReachesThePlan(t *testing.T) {
	asked, _, _ := contractOf(jobs.Contract{Compression: jobs.CodecLZ4Raw})
	if asked.Compression != sink.CodecLZ4Raw {
		t.Fatalf("contractOf: compression %q", asked.Compression)
	}
	dataset := sink.Settings{Compression: sink.CodecZstd}.WithDefaults()
	if diff := sink.SettingsDiff(dataset, asked); len(diff) > 0 {
		t.Errorf("a codec change is a contract difference: %v", diff)
	}
	if got := dataset.ForJob(asked).Compression; got != sink.CodecLZ4Raw {
		t.Errorf("effective codec %q, want lz4_raw", got)
	}
	none, _, _ := contractOf(jobs.Contract{})
	if got := dataset.ForJob(none).Compression; got != sink.CodecZstd {
		t.Errorf("a job without a codec writes with %q, want the dataset's zstd", got)
	}
}

// TestContractCodecsAreSinkCodecs: every codec a payload may name is one
// the sink writes, and the other way round.
func TestContractCodecsAreSinkCodecs(t *testing.T) {
	for _, c := range sink.Codecs {
		if err := jobs.Codec(c).Validate(); err != nil {
			t.Errorf("sink codec %q is not a valid payload codec: %v", c, err)
		}
	}
	for _, c := range []jobs.Codec{jobs.CodecSnappy, jobs.CodecZstd, jobs.CodecLZ4Raw, jobs.CodecNone, jobs.CodecGzip} {
		if sink.Codec(c).ParquetCodec() == nil {
			t.Errorf("payload codec %q has no sink codec", c)
		}
	}
	if err := jobs.Codec("lzo").Validate(); err == nil {
		t.Error("payload codec lzo accepted")
	}
}
