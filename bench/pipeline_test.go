package bench

import (
	"bytes"
	"context"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
	"github.com/s3ingest/s3ingest/worker/source"
)

// pipelineBytes is the size of the object the pipeline benchmark ingests.
const pipelineBytes = 64 << 20

// peakHeap samples the live heap every millisecond while fn runs and
// returns the largest value seen above the heap before fn.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owned here: ends when fn returns
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > base && v-base > peak {
				peak = v - base
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	return peak
}

// BenchmarkIngestPipeline ingests one 64 MiB CSV object from a real S3
// server (SeaweedFS on loopback) into a Parquet dataset, end to end:
//
//   - s3ingest: worker.HandleIngest (credential resolution, listing, the
//     ledger, a streamed GetObject, typed parsing, FileSink commit);
//   - peer: what one would write by hand with the AWS SDK: the
//     feature/s3/manager Downloader into memory, encoding/csv + strconv into
//     the same typed batches, the same FileSink.
//
// It reports MB/s and the peak live heap of each.
func BenchmarkIngestPipeline(b *testing.B) {
	s3srv := testenv.S3(b)
	bucket := s3srv.UniqueBucket(b)
	data := genData(false, pipelineBytes)
	s3srv.Put(b, bucket, "big/data.csv", data)
	ctx := context.Background()

	h, credID := throttledHandlers(b, benchS3{region: s3srv.Region, accessKey: testenv.ReaderAccessKey, secret: testenv.ReaderSecretKey},
		s3srv.Endpoint, source.FetchOptions{})
	fs, err := sink.OpenFile(b.TempDir(), sink.FileOptions{}) // the peer's
	if err != nil {
		b.Fatal(err)
	}

	run := func(b *testing.B, impl string, fn func(n int)) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		var peak uint64
		var cpu time.Duration
		for n := range b.N {
			c0 := cpuTime()
			if p := peakHeap(func() { fn(n) }); p > peak {
				peak = p
			}
			cpu += cpuTime() - c0
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		note("Ingest pipeline: 64 MiB CSV from S3 to Parquet", impl, "MB/s", float64(len(data))*float64(b.N)/1e6, b.Elapsed().Seconds(), cpu.Seconds())
	}

	b.Run("s3ingest", func(b *testing.B) {
		run(b, ours, func(n int) {
			task, err := jobs.NewIngestTask(jobs.IngestPayload{WorkspaceID: "bench", CredentialID: credID,
				Source: jobs.Source{Bucket: bucket, Prefix: "big/"}, Dataset: "ours" + strconv.Itoa(n) + "-" + strconv.Itoa(b.N)})
			if err != nil {
				b.Fatal(err)
			}
			if err := h.HandleIngest(ctx, asynq.NewTask(task.Type(), task.Payload())); err != nil {
				b.Fatal(err)
			}
		})
	})

	client := s3.New(s3.Options{Region: s3srv.Region, BaseEndpoint: aws.String(s3srv.Endpoint), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(testenv.ReaderAccessKey, testenv.ReaderSecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired})
	b.Run("sdk-downloader+encoding-csv", func(b *testing.B) {
		run(b, "manager.Downloader + encoding/csv", func(n int) {
			buf := manager.NewWriteAtBuffer(make([]byte, len(data))) // sized from the listing, as a careful caller would
			if _, err := manager.NewDownloader(client).Download(ctx, buf, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("big/data.csv")}); err != nil {
				b.Fatal(err)
			}
			w, err := fs.Begin(ctx, sink.Dataset{Workspace: "bench", Name: "peer"}, sink.ObjectRef{Bucket: bucket, Key: "big/data.csv", ETag: "peer" + strconv.Itoa(n) + "-" + strconv.Itoa(b.N), Size: int64(len(data))}, sink.PlanFor(typed))
			if err != nil {
				b.Fatal(err)
			}
			encodingCSVBatches(b, bytes.NewReader(buf.Bytes()), func(batch *schema.Batch) {
				if err := w.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
			})
			if err := w.Commit(ctx, sink.Stats{}); err != nil {
				b.Fatal(err)
			}
		})
	})
}
