package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hibiken/asynq"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/sink"
	"github.com/s3ingest/s3ingest/worker/source"
)

// The shape of the network BenchmarkS3Throughput reads through, and the
// object's size: environment variables so that CI stays small and the
// goal (a 1 GiB object) is one command away.
const (
	envThrottleBytes   = "S3INGEST_BENCH_S3_BYTES"   // object size, default 64MiB
	envThrottleRate    = "S3INGEST_BENCH_S3_RATE"    // bytes/s per connection, default 80000000 (80 MB/s)
	envThrottleLatency = "S3INGEST_BENCH_S3_LATENCY" // first-byte latency, default 20ms
)

// BenchmarkS3Throughput reads one large CSV object through a
// testenv.ThrottleProxy that gives every connection the shape of an AWS S3
// connection (80 MB/s, 20 ms to the first byte of each answer), from two
// servers:
//
//   - memory: an in-process S3 (gofakes3) that serves ranges from memory,
//     so that the network shape, not the server, is the limit;
//   - seaweedfs: the test SeaweedFS, which shares the machine's cores. The
//     object is stored as binary/octet-stream (S3's type for an object put
//     without one): SeaweedFS gzips text at rest and inflates it on every
//     GET, which made each 8 MiB range take 50–300 ms of its CPU on 2
//     shared cores; stored as given, it serves ranges at ~1.2 GB/s.
//
// For each:
//
//   - read: the bytes only (source.Object.Open, io.Copy to io.Discard):
//     s3ingest with the defaults (the proxy is a custom endpoint, so the
//     adaptive fetch probes it), in parts from the start (what a client of
//     AWS S3 itself does), with one GET (S3INGEST_FETCH_CONCURRENCY=1, the
//     shape of one connection), and the SDK's feature/s3/manager
//     Downloader (5 MiB × 5) into a discarding io.WriterAt;
//   - ingest: worker.HandleIngest of the object into a FileSink (parsing
//     and Parquet encoding: bounded by the CPU once the network is not the
//     limit): the defaults, one GET, and parts from the start.
//
// Sizes and network: S3INGEST_BENCH_S3_BYTES (e.g. 1GiB; default 64MiB),
// S3INGEST_BENCH_S3_RATE (bytes/s per connection), S3INGEST_BENCH_S3_LATENCY.
func BenchmarkS3Throughput(b *testing.B) {
	size := int(envSize(b, envThrottleBytes, 64<<20))
	rate := envSize(b, envThrottleRate, 80_000_000)
	latency := 20 * time.Millisecond
	if v := os.Getenv(envThrottleLatency); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("%s=%q: want a duration such as 20ms", envThrottleLatency, v)
		}
		latency = d
	}
	// The parallel fetch: the defaults, or ingestd's variables.
	fetch := source.FetchOptions{PartSize: envSize(b, "S3INGEST_FETCH_PART_SIZE", source.DefaultPartSize)}
	if v := os.Getenv("S3INGEST_FETCH_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("S3INGEST_FETCH_CONCURRENCY=%q: want an integer", v)
		}
		fetch.Concurrency = n
	}
	if v := os.Getenv("S3INGEST_FETCH_MODE"); v != "" {
		m, err := source.ParseFetchMode(v)
		if err != nil {
			b.Fatalf("S3INGEST_FETCH_MODE: %v", err)
		}
		fetch.Mode = m
	}
	if err := fetch.Validate(); err != nil {
		b.Fatal(err)
	}
	net := testenv.ThrottleOptions{BytesPerSecond: rate, FirstByteLatency: latency}
	inFlight := fetch.Concurrency
	if inFlight == 0 {
		inFlight = source.DefaultFetchConcurrency
	}
	shape := fmt.Sprintf("%s CSV object, %.0f MB/s and %s per connection; fetch %d MiB × %d, %s",
		sizeName(size), float64(rate)/1e6, latency, fetch.PartSize>>20, inFlight, fetch.Mode)
	b.Run("memory", func(b *testing.B) { throughput(b, memoryS3(b), size, net, fetch, "memory S3, "+shape) })
	b.Run("seaweedfs", func(b *testing.B) { throughput(b, seaweedS3(b), size, net, fetch, "SeaweedFS, "+shape) })
}

// benchS3 is an S3 server for BenchmarkS3Throughput.
type benchS3 struct {
	endpoint, region  string
	accessKey, secret string
	client            *s3.Client // with write access, to upload
	creds             aws.CredentialsProvider
}

// seaweedS3 is the shared SeaweedFS.
func seaweedS3(b *testing.B) benchS3 {
	srv := testenv.S3(b)
	return benchS3{endpoint: srv.Endpoint, region: srv.Region, accessKey: testenv.ReaderAccessKey, secret: testenv.ReaderSecretKey,
		client: srv.Client(b, nil), creds: credentials.NewStaticCredentialsProvider(testenv.ReaderAccessKey, testenv.ReaderSecretKey, "")}
}

// memoryS3 is an in-process S3 (gofakes3, memory backend), stopped with b.
func memoryS3(b *testing.B) benchS3 {
	ts := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	b.Cleanup(ts.Close)
	const key, secret = "AKIABENCHMEMORY00001", "benchSecret"
	creds := credentials.NewStaticCredentialsProvider(key, secret, "")
	return benchS3{endpoint: ts.URL, region: "us-east-1", accessKey: key, secret: secret, creds: creds,
		client: s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), UsePathStyle: true, Credentials: creds})}
}

func throughput(b *testing.B, srv benchS3, size int, net testenv.ThrottleOptions, fetch source.FetchOptions, comparison string) {
	ctx := context.Background()
	bucket := "bench-throughput-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := srv.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		b.Fatal(err)
	}
	const key = "big/data.csv"
	size = uploadCSV(b, srv.client, bucket, key, size)
	proxy := testenv.NewThrottleProxy(b, srv.endpoint, net)

	read := func(b *testing.B, impl string, fn func()) {
		b.SetBytes(int64(size))
		var peak uint64
		var cpu time.Duration
		proxy.ResetStats()
		for range b.N {
			c0 := cpuTime()
			if p := peakHeap(fn); p > peak {
				peak = p
			}
			cpu += cpuTime() - c0
		}
		st := proxy.Stats()
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(st.MaxOpen), "max-connections")
		note("S3 read: "+comparison, impl, "MB/s", float64(size)*float64(b.N)/1e6, b.Elapsed().Seconds(), cpu.Seconds())
	}
	// Every client has its own connections, closed after its benchmark,
	// so that max-connections counts its own.
	newHTTP := func(b *testing.B) *http.Client {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		b.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	sourceRead := func(b *testing.B, fetch source.FetchOptions) func() {
		c := source.New(srv.creds, source.Options{Endpoint: proxy.Endpoint(), Region: srv.region, Fetch: fetch, HTTPClient: newHTTP(b)})
		info, err := c.Head(ctx, bucket, key, "")
		if err != nil {
			b.Fatal(err)
		}
		obj := c.Object(ctx, info)
		return func() {
			rc, err := obj.Open(ctx, 0, -1)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil || n != int64(size) {
				b.Fatalf("read %d of %d bytes: %v", n, size, err)
			}
		}
	}
	b.Run("read/s3ingest", func(b *testing.B) { read(b, ours, sourceRead(b, fetch)) })
	if fetch.Mode == source.FetchAdaptive {
		b.Run("read/parts", func(b *testing.B) {
			parts := fetch
			parts.Mode = source.FetchParts
			read(b, "s3ingest, parts from the start (AWS S3's endpoint; S3INGEST_FETCH_MODE=parts)", sourceRead(b, parts))
		})
	}
	b.Run("read/one-GET", func(b *testing.B) {
		read(b, "s3ingest, one GET (S3INGEST_FETCH_CONCURRENCY=1)", sourceRead(b, source.FetchOptions{Concurrency: 1}))
	})
	b.Run("read/sdk-downloader", func(b *testing.B) {
		client := s3.New(s3.Options{Region: srv.region, BaseEndpoint: aws.String(proxy.Endpoint()), UsePathStyle: true, Credentials: srv.creds,
			HTTPClient:                 newHTTP(b),
			RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
			ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired})
		read(b, "manager.Downloader (5 MiB × 5)", func() {
			n, err := manager.NewDownloader(client).Download(ctx, discardAt{}, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil || n != int64(size) {
				b.Fatalf("downloaded %d of %d bytes: %v", n, size, err)
			}
		})
	})

	// The whole ingest through the same network.
	oneGET := fetch
	oneGET.Concurrency = 1
	parts := fetch
	parts.Mode = source.FetchParts
	cases := []struct {
		name, impl string
		fetch      source.FetchOptions
	}{
		{"ingest/s3ingest", ours, fetch},
		{"ingest/one-GET", "s3ingest, one GET (S3INGEST_FETCH_CONCURRENCY=1)", oneGET},
	}
	if fetch.Mode == source.FetchAdaptive {
		// The proxy is a custom endpoint, so the default probes it; a
		// client of AWS S3 itself reads in parts from the start.
		cases = append(cases, struct {
			name, impl string
			fetch      source.FetchOptions
		}{"ingest/parts", "s3ingest, parts from the start (AWS S3's endpoint; S3INGEST_FETCH_MODE=parts)", parts})
	}
	for i, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h, credID := throttledHandlers(b, srv, proxy.Endpoint(), tc.fetch)
			b.SetBytes(int64(size))
			var peak uint64
			var cpu time.Duration
			for n := range b.N {
				task, err := jobs.NewIngestTask(jobs.IngestPayload{WorkspaceID: "bench", CredentialID: credID,
					Source: jobs.Source{Bucket: bucket, Prefix: "big/"}, Dataset: "throttled" + strconv.Itoa(i) + "-" + strconv.Itoa(n) + "-" + strconv.Itoa(b.N)})
				if err != nil {
					b.Fatal(err)
				}
				c0 := cpuTime()
				if p := peakHeap(func() {
					if err := h.HandleIngest(ctx, asynq.NewTask(task.Type(), task.Payload())); err != nil {
						b.Fatal(err)
					}
				}); p > peak {
					peak = p
				}
				cpu += cpuTime() - c0
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			note("S3 ingest to Parquet: "+comparison, tc.impl, "MB/s", float64(size)*float64(b.N)/1e6, b.Elapsed().Seconds(), cpu.Seconds())
		})
	}
}

// throttledHandlers returns ingest handlers (writing to a FileSink in a
// temporary directory) whose credential instance, of workspace "bench",
// reads S3 through endpoint with the fetch options (zero: the defaults).
func throttledHandlers(b *testing.B, srv benchS3, endpoint string, fetch source.FetchOptions) (*worker.Handlers, string) {
	ctx := context.Background()
	rdb := testenv.Redis(b).Client(b)
	keyring, err := credstore.ParseKeyring(credstore.GenerateKey())
	if err != nil {
		b.Fatal(err)
	}
	store, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, Keyring: keyring, PlatformARN: testenv.PlatformUserARN})
	if err != nil {
		b.Fatal(err)
	}
	cred, err := store.AddCredential(ctx, "bench", credstore.CredentialInput{Name: "reader", AccessKeyID: srv.accessKey,
		SecretAccessKey: credstore.Secret(srv.secret), Region: srv.region, Endpoint: endpoint})
	if err != nil {
		b.Fatal(err)
	}
	resolver, err := credstore.NewResolver(credstore.ResolverConfig{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	fs, err := sink.OpenFile(b.TempDir(), sink.FileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := worker.NewHandlers(worker.Config{AllowPrivateEndpoints: true,
		FetchPartSize: fetch.PartSize, FetchConcurrency: fetch.Concurrency, FetchMode: fetch.Mode}, resolver, fs, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	return h, cred.ID
}

// uploadCSV stores about size bytes of the benchmark CSV at key (whole
// rows: the header, then the rows of a 64 MiB piece over and over) and
// returns the object's size. It is uploaded in parts and the piece
// dropped after, so a 1 GiB object does not stay in memory.
func uploadCSV(b *testing.B, client *s3.Client, bucket, key string, size int) int {
	b.Helper()
	piece := genData(false, min(size, 64<<20))
	header := bytes.IndexByte(piece, '\n') + 1
	rows := piece[header:]
	readers := []io.Reader{bytes.NewReader(piece[:header])}
	total := header
	for total+len(rows) <= size {
		readers = append(readers, bytes.NewReader(rows))
		total += len(rows)
	}
	if rest := rows[:size-total]; len(rest) > 0 {
		rest = rest[:bytes.LastIndexByte(rest, '\n')+1]
		readers = append(readers, bytes.NewReader(rest))
		total += len(rest)
	}
	up := manager.NewUploader(client, func(u *manager.Uploader) { u.PartSize = 16 << 20; u.Concurrency = 2 })
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: io.MultiReader(readers...),
		ContentType: aws.String("binary/octet-stream")} // stored as given: see BenchmarkS3Throughput
	if _, err := up.Upload(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	return total
}

// discardAt is an io.WriterAt that keeps nothing.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// envSize reads a size from the environment: bytes, or with a KiB, MiB or
// GiB suffix; def if unset.
func envSize(b *testing.B, name string, def int64) int64 {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if s, ok := strings.CutSuffix(v, suffix); ok {
			v, mult = s, m
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive size such as 1GiB", name, os.Getenv(name))
	}
	return n * mult
}

// sizeName renders a size as "64 MiB" or "1 GiB".
func sizeName(n int) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return strconv.Itoa(n>>30) + " GiB"
	}
	return strconv.Itoa(n>>20) + " MiB"
}
