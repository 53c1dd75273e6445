package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// WeedVersion is the SeaweedFS module version testenv expects (keep in sync
// with V in scripts/test.sh).
const WeedVersion = "v0.0.0-20261109003541-7506e5f91cd6"

// EnvWeedBin names the environment variable holding the path of the weed
// binary; without it testenv uses $HOME/.cache/s3ingest/weed-<WeedVersion>.
const EnvWeedBin = "S3INGEST_WEED_BIN"

// WeedBinary returns the path of the SeaweedFS binary testenv runs: $S3INGEST_WEED_BIN,
// else $HOME/.cache/s3ingest/weed-<WeedVersion>.
func WeedBinary() string {
	if p := os.Getenv(EnvWeedBin); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".cache", "s3ingest", "weed-"+WeedVersion)
}

// S3Server is a running SeaweedFS instance (S3 + STS + IAM) plus testenv's
// proxies in front of it.
type S3Server struct {
	// Endpoint is the S3 endpoint, direct: http://127.0.0.1:PORT.
	Endpoint string
	// STSEndpoint is the External-ID-checking reverse proxy in front of
	// SeaweedFS's STS (which is served by the same SeaweedFS S3 port).
	STSEndpoint string
	// Region is "us-east-1".
	Region string
	// Admin holds the credentials of the "admin" identity (all actions).
	Admin aws.Credentials

	shared     bool
	dir        string
	logPath    string
	proc       *proc
	rc         *renderedConfig
	httpClient *http.Client      // shared by the SDK clients this server hands out
	upstream   http.RoundTripper // transport used by the proxies

	closersMu sync.Mutex
	closers   []func()

	assumeRoleCalls atomic.Int64
	stsMu           sync.Mutex
	stsLog          []AssumeRoleCall

	recMu    sync.Mutex
	recorded []RecordedRequest

	stopOnce sync.Once
}

var (
	sharedS3Mu  sync.Mutex
	sharedS3    *S3Server
	sharedS3Err error
)

// S3 returns the package's shared SeaweedFS instance with the default config
// (DefaultS3Config), started lazily once per test binary on its own free
// ports and stopped by Main. Tests sharing it should use their own buckets
// (UniqueBucket).
func S3(t testing.TB) *S3Server {
	t.Helper()
	requireMain(t, "S3")
	sharedS3Mu.Lock()
	defer sharedS3Mu.Unlock()
	if sharedS3 != nil {
		return sharedS3
	}
	if sharedS3Err != nil {
		t.Fatalf("testenv: shared SeaweedFS failed to start earlier in this test binary: %v", sharedS3Err)
	}
	s, err := startS3(DefaultS3Config())
	if err != nil {
		sharedS3Err = err
		t.Fatalf("testenv: %v", err)
	}
	s.shared = true
	sharedS3 = s
	onShutdown(s.stop)
	return s
}

// StartS3 starts a dedicated SeaweedFS instance with a custom IAM config (own
// ports, own temp dir), stopped in t.Cleanup. It costs a few seconds and
// about 600 MB of memory while it runs.
func StartS3(t testing.TB, cfg S3Config) *S3Server {
	t.Helper()
	s, err := startS3(cfg)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(s.stop)
	return s
}

func startS3(cfg S3Config) (*S3Server, error) {
	bin := WeedBinary()
	if !isExecutable(bin) {
		hint := "run scripts/test.sh, which builds SeaweedFS " + WeedVersion + " into ~/.cache/s3ingest (about 17 min, once), or set " + EnvWeedBin
		if os.Getenv(EnvWeedBin) != "" {
			hint = EnvWeedBin + " points to a missing or non-executable file; fix or unset it, then " + hint
		} else if buildInProgress(filepath.Join(filepath.Dir(bin), ".build.lock")) {
			hint = "scripts/test.sh is building it right now (log: " + filepath.Join(filepath.Dir(bin), "build.log") + "); wait for it to finish"
		}
		return nil, fmt.Errorf("SeaweedFS binary %s not found: %s", bin, hint)
	}
	rc, err := renderConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("S3Config: %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		s, err := startWeed(bin, rc)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortInUse) {
			break
		}
	}
	return nil, lastErr
}

var errPortInUse = errors.New("port in use")

// buildInProgress reports whether scripts/test.sh holds the build lock.
func buildInProgress(lockPath string) bool {
	f, err := os.Open(lockPath)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// weedPorts are the listeners of one weed server.
type weedPorts struct {
	master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc int
}

func startWeed(bin string, rc *renderedConfig) (*S3Server, error) {
	dir, err := makeDir("weed")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*S3Server, error) {
		removeDir(dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), rc.s3JSON, 0o600); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "iam.json"), rc.iamJSON, 0o600); err != nil {
		return fail(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		return fail(err)
	}
	pp, err := freePorts(8)
	if err != nil {
		return fail(err)
	}
	ports := weedPorts{pp[0], pp[1], pp[2], pp[3], pp[4], pp[5], pp[6], pp[7]}
	itoa := strconv.Itoa
	args := []string{
		"server",
		"-dir=" + data,
		"-ip=127.0.0.1",
		"-ip.bind=127.0.0.1",
		"-s3",
		"-s3.config=" + filepath.Join(dir, "s3.json"),
		"-s3.iam.config=" + filepath.Join(dir, "iam.json"),
		"-s3.port.iceberg=0",
		"-s3.port.lance=0",
		"-master.volumeSizeLimitMB=256",
		"-master.telemetry=false",
		"-master.port=" + itoa(ports.master),
		"-master.port.grpc=" + itoa(ports.masterGrpc),
		"-volume.port=" + itoa(ports.volume),
		"-volume.port.grpc=" + itoa(ports.volumeGrpc),
		"-volume.max=2000", // volumes are sparse; every bucket is a collection with its own volume
		"-volume.preStopSeconds=0",
		"-filer.port=" + itoa(ports.filer),
		"-filer.port.grpc=" + itoa(ports.filerGrpc),
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3.port=" + itoa(ports.s3),
		"-s3.port.grpc=" + itoa(ports.s3Grpc),
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
		"-metricsPort=0",
	}
	logPath := filepath.Join(dir, "weed.log")
	p, err := startProc(procSpec{
		name:    "weed",
		bin:     bin,
		args:    args,
		dir:     dir, // weed reads ./security.toml etc. from its working dir
		logPath: logPath,
		env: []string{
			// grow one volume per collection (bucket) instead of 7
			"WEED_MASTER_VOLUME_GROWTH_COPY_1=1",
		},
		// A graceful weed shutdown takes ~15 s (measured); the data dir is
		// thrown away anyway, so SIGKILL follows SIGTERM after 2 s.
		stopSignal: syscall.SIGTERM,
		grace:      2 * time.Second,
	})
	if err != nil {
		return fail(err)
	}
	s := &S3Server{
		Endpoint:   "http://" + net.JoinHostPort("127.0.0.1", itoa(ports.s3)),
		Region:     Region,
		Admin:      AdminIdentity.Credentials(),
		dir:        dir,
		logPath:    logPath,
		proc:       p,
		rc:         rc,
		httpClient: &http.Client{Transport: newTransport()},
		upstream:   newTransport(),
	}
	s.addCloser(func() {
		for _, port := range []int{ports.master, ports.masterGrpc, ports.volume, ports.volumeGrpc, ports.filer, ports.filerGrpc, ports.s3, ports.s3Grpc} {
			socks, _ := filepath.Glob(fmt.Sprintf("/tmp/seaweedfs-*-%d.sock", port))
			for _, sock := range socks {
				_ = os.Remove(sock)
			}
		}
	})
	if err := s.waitReady(time.Now().Add(90 * time.Second)); err != nil {
		p.kill()
		log := tailFile(logPath, 4000)
		s.runClosers()
		removeDir(dir)
		if addrInUse(log) {
			return nil, fmt.Errorf("%w: %v", errPortInUse, err)
		}
		return nil, fmt.Errorf("SeaweedFS (%s) did not become ready: %v\n--- tail of %s ---\n%s", bin, err, logPath, log)
	}
	if err := s.startSTSProxy(); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls until the S3 API answers ListBuckets for admin and a probe
// object can be written and read (so volume assignment works too).
func (s *S3Server) waitReady(deadline time.Time) error {
	c := s3.New(s.options(s.Endpoint, credentials.StaticCredentialsProvider{Value: s.Admin}), func(o *s3.Options) {
		o.RetryMaxAttempts = 1
	})
	probe := "testenv-probe-" + randHex(4)
	stage := "ListBuckets"
	var lastErr error
	for {
		if s.proc.exited() {
			return fmt.Errorf("weed exited during startup (stage %s, last error: %v)", stage, lastErr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out at stage %s: %v", stage, lastErr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		switch stage {
		case "ListBuckets":
			_, lastErr = c.ListBuckets(ctx, &s3.ListBucketsInput{})
			if lastErr == nil {
				stage = "CreateBucket"
			}
		case "CreateBucket":
			_, lastErr = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(probe)})
			var owned *s3types.BucketAlreadyOwnedByYou
			if lastErr == nil || errors.As(lastErr, &owned) {
				stage, lastErr = "PutObject", nil
			}
		case "PutObject":
			_, lastErr = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(probe), Key: aws.String("probe"), Body: bytes.NewReader([]byte("ok"))})
			if lastErr == nil {
				stage = "Cleanup"
			}
		case "Cleanup":
			_, lastErr = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(probe), Key: aws.String("probe")})
			if lastErr == nil {
				_, lastErr = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(probe)})
			}
			cancel()
			if lastErr != nil {
				return fmt.Errorf("delete probe bucket: %w", lastErr)
			}
			return nil
		}
		cancel()
		if lastErr != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// newTransport returns a transport for loopback traffic that ignores proxy
// environment variables.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func (s *S3Server) addCloser(f func()) {
	s.closersMu.Lock()
	s.closers = append(s.closers, f)
	s.closersMu.Unlock()
}

func (s *S3Server) runClosers() {
	s.closersMu.Lock()
	cs := s.closers
	s.closers = nil
	s.closersMu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// stop closes the proxies, stops weed by pid (SIGTERM, then SIGKILL) and
// removes its directory.
func (s *S3Server) stop() {
	s.stopOnce.Do(func() {
		s.proc.stop()
		s.runClosers()
		s.httpClient.CloseIdleConnections()
		if tr, ok := s.upstream.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
		removeDir(s.dir)
	})
}

// LogPath returns the path of the SeaweedFS log (stdout and stderr), which
// exists while the server runs.
func (s *S3Server) LogPath() string { return s.logPath }

// Identities returns the static identities of this instance (admin first).
func (s *S3Server) Identities() []Identity {
	return append([]Identity(nil), s.rc.identities...)
}

// AdminProvider returns a static credentials provider for Admin.
func (s *S3Server) AdminProvider() aws.CredentialsProvider {
	return credentials.StaticCredentialsProvider{Value: s.Admin}
}

func (s *S3Server) options(endpoint string, creds aws.CredentialsProvider) s3.Options {
	if creds == nil {
		creds = s.AdminProvider()
	}
	return s3.Options{
		Region:                     s.Region,
		Credentials:                creds,
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		HTTPClient:                 s.httpClient,
	}
}

// Client returns an S3 client for Endpoint: BaseEndpoint, UsePathStyle,
// checksums WhenRequired, Region. creds nil means Admin. optFns adjust the
// options (e.g. retries).
func (s *S3Server) Client(t testing.TB, creds aws.CredentialsProvider, optFns ...func(*s3.Options)) *s3.Client {
	return s.ClientAt(t, s.Endpoint, creds, optFns...)
}

// ClientAt is Client for another endpoint in front of this server, such as a
// FaultProxy or RecordingProxy endpoint.
func (s *S3Server) ClientAt(t testing.TB, endpoint string, creds aws.CredentialsProvider, optFns ...func(*s3.Options)) *s3.Client {
	t.Helper()
	return s3.New(s.options(endpoint, creds), optFns...)
}

// STSClient returns an STS client pointed at STSEndpoint (the External ID
// proxy). creds nil means the platform identity's keys.
func (s *S3Server) STSClient(t testing.TB, creds aws.CredentialsProvider, optFns ...func(*sts.Options)) *sts.Client {
	return s.STSClientAt(t, s.STSEndpoint, creds, optFns...)
}

// STSClientAt is STSClient for another endpoint, such as an STSFaultProxy.
func (s *S3Server) STSClientAt(t testing.TB, endpoint string, creds aws.CredentialsProvider, optFns ...func(*sts.Options)) *sts.Client {
	t.Helper()
	if creds == nil {
		creds = PlatformIdentity.Provider()
	}
	return sts.New(sts.Options{
		Region:       s.Region,
		Credentials:  creds,
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   s.httpClient,
	}, optFns...)
}

func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

// CreateBucket creates a bucket with the admin credentials.
func (s *S3Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	if _, err := s.Client(t, nil).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("testenv: CreateBucket %s: %v", name, err)
	}
}

// EnableVersioning turns on versioning for a bucket (admin).
func (s *S3Server) EnableVersioning(t testing.TB, bucket string) {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	_, err := s.Client(t, nil).PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		t.Fatalf("testenv: PutBucketVersioning %s: %v", bucket, err)
	}
}

// Put writes an object with the admin credentials and returns its version ID
// ("" unless the bucket is versioned) and ETag (as the server sent it,
// quoted).
func (s *S3Server) Put(t testing.TB, bucket, key string, body []byte) (versionID, etag string) {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	out, err := s.Client(t, nil).PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Body:   bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("testenv: PutObject s3://%s/%s: %v", bucket, key, err)
	}
	return aws.ToString(out.VersionId), aws.ToString(out.ETag)
}

// UniqueBucket creates a bucket with a unique lowercase name derived from
// t.Name() and returns it.
func (s *S3Server) UniqueBucket(t testing.TB) string {
	t.Helper()
	base := sanitizeName(t.Name(), '-', 40)
	if len(base) < 3 {
		base = "test" + base
	}
	name := base + "-" + randHex(5)
	s.CreateBucket(t, name)
	return name
}

// accessKeyOf extracts the access key ID from a SigV4 Authorization header or
// presigned query.
func accessKeyOf(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if i := strings.Index(a, "Credential="); i >= 0 {
			rest := a[i+len("Credential="):]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				return rest[:j]
			}
		}
		return ""
	}
	if c := r.URL.Query().Get("X-Amz-Credential"); c != "" {
		if j := strings.IndexByte(c, '/'); j >= 0 {
			return c[:j]
		}
	}
	return ""
}
