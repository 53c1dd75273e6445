package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
)

func TestMain(m *testing.M) { testenv.Main(m, removeBuild) }

// ---- building ingestd once per test binary -----------------------------------

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// ingestdBinary builds ./cmd/ingestd once per test binary (without -race:
// the process under test is the production build) and returns its path.
func ingestdBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "s3ingest-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(buildDir, "ingestd")
		cmd := exec.Command(goTool(), "build", "-o", bin, "./cmd/ingestd")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/ingestd in %s: %v\n%s", root, err, out)
			return
		}
		buildBin = bin
	})
	if buildErr != nil {
		t.Fatalf("e2e: %v", buildErr)
	}
	return buildBin
}

func removeBuild() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); isFile(p) {
		return p
	}
	return "go"
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// moduleRoot walks up from the working directory (the package directory
// under go test) to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

// ---- child processes ------------------------------------------------------------

// spawner starts every child from one OS thread that never exits: a child's
// parent-death signal (SIGKILL) follows the thread that forked it, so a test
// binary killed by `go test -timeout` takes its ingestd processes with it.
var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked
			for req := range spawnCh {
				req.errc <- req.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnCh <- spawnReq{cmd: cmd, errc: errc}
	return <-errc
}

// Daemon is an ingestd child process that a test starts, kills with
// SIGKILL and restarts. Every start appends to the same log file; the tail
// is printed when the test fails.
type Daemon struct {
	t       testing.TB
	name    string
	env     []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	pid    int
	done   chan struct{}
	starts int
}

// StartDaemon starts ingestd with env (S3INGEST_* variables; the test's own
// environment is passed through underneath) and waits until it serves. It
// is stopped (SIGTERM, then SIGKILL) when the test ends.
func StartDaemon(t testing.TB, name string, env map[string]string) *Daemon {
	t.Helper()
	ingestdBinary(t) // build before the clock of any wait starts
	d := &Daemon{t: t, name: name, logPath: filepath.Join(t.TempDir(), name+".log")}
	for k, v := range env {
		d.env = append(d.env, k+"="+v)
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("--- tail of %s log (%s) ---\n%s", name, d.logPath, d.LogTail(6000))
		}
	})
	d.Start()
	return d
}

// Start starts the process (again) and waits until its log says it serves.
func (d *Daemon) Start() {
	d.t.Helper()
	d.mu.Lock()
	if d.cmd != nil && !d.exitedLocked() {
		d.mu.Unlock()
		d.t.Fatalf("e2e: %s is already running (pid %d)", d.name, d.pid)
	}
	d.starts++
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.mu.Unlock()
		d.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== e2e: start #%d of %s at %s\n", d.starts, d.name, time.Now().Format(time.RFC3339Nano))
	off, _ := logf.Seek(0, io.SeekEnd)
	cmd := exec.Command(ingestdBinary(d.t))
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = startCmd(cmd)
	logf.Close()
	if err != nil {
		d.mu.Unlock()
		d.t.Fatalf("e2e: start %s: %v", d.name, err)
	}
	d.cmd, d.pid, d.done = cmd, cmd.Process.Pid, make(chan struct{})
	done := d.done
	go func() { _ = cmd.Wait(); close(done) }()
	d.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for !d.logHasAfter(off, `"ingestd: serving"`) {
		select {
		case <-done:
			d.t.Fatalf("e2e: %s exited during startup:\n%s", d.name, d.LogTail(4000))
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("e2e: %s did not log \"ingestd: serving\" within 30s:\n%s", d.name, d.LogTail(4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *Daemon) exitedLocked() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// PID is the pid of the current (or last) process.
func (d *Daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pid
}

// Kill sends SIGKILL to the process's pid (kill -9: no shutdown code runs)
// and waits until it has been reaped. It returns when the signal was sent.
func (d *Daemon) Kill() time.Time {
	d.t.Helper()
	d.mu.Lock()
	pid, done := d.pid, d.done
	d.mu.Unlock()
	at := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		d.t.Fatalf("e2e: kill -9 %s (pid %d): %v", d.name, pid, err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.t.Fatalf("e2e: %s (pid %d) still running 10s after SIGKILL", d.name, pid)
	}
	d.appendLog(fmt.Sprintf("=== e2e: killed %s (pid %d) with SIGKILL at %s\n", d.name, pid, at.Format(time.RFC3339Nano)))
	return at
}

// Restart kills the process with SIGKILL and starts it again.
func (d *Daemon) Restart() time.Time {
	d.t.Helper()
	at := d.Kill()
	d.Start()
	return at
}

// Stop sends SIGTERM and waits (SIGKILL after 10s). Idempotent.
func (d *Daemon) Stop() {
	d.mu.Lock()
	pid, done := d.pid, d.done
	d.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-done
	}
}

func (d *Daemon) appendLog(s string) {
	if f, err := os.OpenFile(d.logPath, os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		_, _ = f.WriteString(s)
		f.Close()
	}
}

func (d *Daemon) logHasAfter(off int64, sub string) bool {
	f, err := os.Open(d.logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			return true
		}
	}
	return false
}

// LogLines returns the log lines (of every start) containing sub.
func (d *Daemon) LogLines(sub string) []string {
	b, _ := os.ReadFile(d.logPath)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

// LogTail returns the last max bytes of the log.
func (d *Daemon) LogTail(max int) string {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// ---- the servers and the platform's side ------------------------------------------

// env is one test's Redis, the shared SeaweedFS, the credential store and
// the jobs client, as the platform's API would hold them.
type env struct {
	t     testing.TB
	redis *testenv.RedisServer
	rdb   *redis.Client
	s3    *testenv.S3Server
	key   string // S3INGEST_SECRET_KEY
	store *credstore.Store
	jobs  *jobs.Client
	insp  *asynq.Inspector
}

func newEnv(t testing.TB) *env {
	t.Helper()
	rs := testenv.Redis(t)
	rdb := rs.Client(t)
	key := credstore.GenerateKey()
	keyring, err := credstore.ParseKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	store, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, Keyring: keyring, PlatformARN: testenv.PlatformUserARN})
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	return &env{t: t, redis: rs, rdb: rdb, s3: testenv.S3(t), key: key, store: store,
		jobs: jobs.NewClient(rdb), insp: insp}
}

// addCredential stores access keys of SeaweedFS's reader identity for ws,
// pointing at endpoint (a proxy in front of SeaweedFS), and returns its ID.
func (e *env) addCredential(ws, endpoint string) string {
	e.t.Helper()
	cred, err := e.store.AddCredential(context.Background(), ws, credstore.CredentialInput{Name: "reader",
		AccessKeyID: testenv.ReaderAccessKey, SecretAccessKey: credstore.Secret(testenv.ReaderSecretKey),
		Region: e.s3.Region, Endpoint: endpoint})
	if err != nil {
		e.t.Fatal(err)
	}
	return cred.ID
}

// daemonEnv is the configuration of an ingestd on this env's Redis writing
// to sinkURL.
func (e *env) daemonEnv(sinkURL string) map[string]string {
	return map[string]string{
		"S3INGEST_REDIS_URL":               e.redis.URL(),
		"S3INGEST_SINK":                    sinkURL,
		"S3INGEST_SECRET_KEY":              e.key,
		"S3INGEST_ADMIN_ADDR":              "off",
		"S3INGEST_ALLOW_PRIVATE_ENDPOINTS": "true", // SeaweedFS and the proxies are on loopback
		"S3INGEST_SHUTDOWN_TIMEOUT":        "2s",
		"S3INGEST_PLATFORM_ARN":            testenv.PlatformUserARN,
		"S3INGEST_STS_ENDPOINT":            e.s3.STSEndpoint,
		"S3INGEST_LOG_LEVEL":               "info",
		"S3INGEST_LOG_FORMAT":              "json",
		"AWS_EC2_METADATA_DISABLED":        "true",
	}
}

// task returns the task's current info; a Redis error fails the test.
func (e *env) task(queue, id string) *asynq.TaskInfo {
	e.t.Helper()
	info, err := e.jobs.Task(queue, id)
	if err != nil {
		e.t.Fatalf("task %s/%s: %v", queue, id, err)
	}
	return info
}

// ---- waiting within the test's deadline -----------------------------------------------

// within returns the deadline for a wait of at most d, cut short so that
// the test still has 20 s to report before go test's own deadline.
func within(t testing.TB, d time.Duration) time.Time {
	end := time.Now().Add(d)
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := tt.Deadline(); ok && dl.Add(-20*time.Second).Before(end) {
			end = dl.Add(-20 * time.Second)
		}
	}
	return end
}

// waitFor polls cond every poll until it holds, or fails the test after at
// most d with what (and cond's last note).
func waitFor(t testing.TB, what string, d, poll time.Duration, cond func() (bool, string)) {
	t.Helper()
	end := within(t, d)
	for {
		ok, note := cond()
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s (%s)", d, what, note)
		}
		time.Sleep(poll)
	}
}

// ---- an S3 proxy that slows reads and records what it serves ---------------------------------

// s3Proxy forwards to SeaweedFS (keeping the Host header its clients
// signed), optionally holding each LIST for listDelay, delaying each GET by
// getDelay and pacing each GET body at rate bytes/s, and counts the body
// bytes served per object path (/bucket/key).
type s3Proxy struct {
	URL string

	listDelay time.Duration
	getDelay  time.Duration
	rate      int64 // bytes per second per object, all its GETs together; 0: unpaced

	mu       sync.Mutex
	served   map[string]int64     // path -> body bytes sent (all reads together)
	finished map[string]time.Time // path -> when the body holding its last byte was sent to its end
	listing  int                  // LIST requests in flight
	lists    int                  // LIST requests seen
	gets     map[string]int       // path -> GET requests
	next     map[string]time.Time // path -> when its paced bytes sent so far are due
}

func newS3Proxy(t testing.TB, s *testenv.S3Server, listDelay, getDelay time.Duration, rate int64) *s3Proxy {
	t.Helper()
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &s3Proxy{listDelay: listDelay, getDelay: getDelay, rate: rate,
		served: map[string]int64{}, finished: map[string]time.Time{}, gets: map[string]int{},
		next: map[string]time.Time{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = u.Scheme, u.Host
			pr.Out.Host = pr.In.Host
		},
		Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
		ModifyResponse: func(resp *http.Response) error {
			r := resp.Request
			if isObjectGet(r) && resp.StatusCode/100 == 2 {
				resp.Body = &pacedBody{rc: resp.Body, p: p, path: r.URL.EscapedPath(), size: resp.ContentLength,
					last: endsObject(resp.Header.Get("Content-Range"))}
			}
			return nil
		},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isList(r) {
			p.mu.Lock()
			p.listing++
			p.lists++
			p.mu.Unlock()
			defer func() { p.mu.Lock(); p.listing--; p.mu.Unlock() }()
			time.Sleep(p.listDelay)
		} else if isObjectGet(r) {
			p.mu.Lock()
			p.gets[r.URL.EscapedPath()]++
			p.mu.Unlock()
			time.Sleep(p.getDelay)
		}
		rp.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	p.URL = "http://" + ln.Addr().String()
	return p
}

// isList reports whether r is a ListObjectsV2 request (GET on a bucket).
func isList(r *http.Request) bool {
	return r.Method == http.MethodGet && onBucket(r) && r.URL.Query().Has("list-type")
}

// isObjectGet reports whether r is a GetObject request.
func isObjectGet(r *http.Request) bool {
	return r.Method == http.MethodGet && !onBucket(r)
}

// onBucket reports whether r addresses a bucket, not an object (path style).
func onBucket(r *http.Request) bool {
	return !strings.Contains(strings.Trim(r.URL.Path, "/"), "/")
}

// snapshot returns copies of the counters.
func (p *s3Proxy) snapshot() (served map[string]int64, finished map[string]time.Time, listing, lists int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	served = make(map[string]int64, len(p.served))
	for k, v := range p.served {
		served[k] = v
	}
	finished = make(map[string]time.Time, len(p.finished))
	for k, v := range p.finished {
		finished[k] = v
	}
	return served, finished, p.listing, p.lists
}

// endsObject reports whether a GET answer with this Content-Range holds
// the object's last byte (a whole-object answer has none). ingestd reads a
// long object as parallel ranged GETs, so only the part at its end tells
// that the object was read to its end.
func endsObject(contentRange string) bool {
	if contentRange == "" {
		return true
	}
	var start, end, total int64
	if _, err := fmt.Sscanf(contentRange, "bytes %d-%d/%d", &start, &end, &total); err != nil {
		return true
	}
	return end == total-1
}

// pacedBody sends a response body at the proxy's rate and counts it. The
// rate is per object, whatever the number of GETs reading it at once
// (ingestd reads a long object as parallel ranged GETs), so an object
// takes as long to read as the scenarios expect.
type pacedBody struct {
	rc   io.ReadCloser
	p    *s3Proxy
	path string
	size int64
	last bool // the body ends at the object's last byte
	sent int64
}

func (b *pacedBody) Read(buf []byte) (int, error) {
	if b.p.rate > 0 {
		if max := int(b.p.rate / 50); len(buf) > max { // about 20 ms of data per read
			buf = buf[:max]
		}
	}
	n, err := b.rc.Read(buf)
	b.sent += int64(n)
	b.p.mu.Lock()
	var wait time.Duration
	if b.p.rate > 0 && n > 0 {
		// The object's bytes take their turn on its one virtual link.
		now := time.Now()
		due := b.p.next[b.path]
		if due.Before(now) {
			due = now
		}
		due = due.Add(time.Duration(float64(n) / float64(b.p.rate) * float64(time.Second)))
		b.p.next[b.path] = due
		wait = due.Sub(now)
	}
	b.p.mu.Unlock()
	time.Sleep(wait)
	b.p.mu.Lock()
	b.p.served[b.path] += int64(n)
	if b.last && (errors.Is(err, io.EOF) || (b.size > 0 && b.sent == b.size)) {
		b.p.finished[b.path] = time.Now()
	}
	b.p.mu.Unlock()
	return n, err
}

func (b *pacedBody) Close() error { return b.rc.Close() }
