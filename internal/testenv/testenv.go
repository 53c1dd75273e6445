// Package testenv starts real servers for tests: redis-server, SeaweedFS
// (S3 + STS + IAM, with an External-ID-checking STS proxy and fault-injecting
// S3 proxies) and PostgreSQL.
//
// Tests never skip because a server is missing: when something cannot be
// started, the test fails with a message that says how to fix it (usually: run
// scripts/test.sh, which installs the Debian packages and builds SeaweedFS into
// ~/.cache/s3ingest).
//
// A package that uses S3 or Postgres must route its tests through Main:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Every child process is started with a parent-death signal (SIGKILL), so even
// a test binary killed by `go test -timeout` leaves no servers behind.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// mainActive is set by Main; shared servers (S3, private Postgres) refuse to
// start without it because nothing else would stop them.
var mainActive atomic.Bool

// Main wraps testing.M: runs the tests, then the after functions (e.g. a
// benchmark report), then stops every server the package started (by pid),
// removes their temporary directories, and exits.
// Use as: func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M, after ...func()) {
	mainActive.Store(true)
	code := m.Run()
	for _, f := range after {
		f()
	}
	shutdownShared()
	stopAllProcs()
	removeAllDirs()
	os.Exit(code)
}

func requireMain(t testing.TB, what string) {
	t.Helper()
	if !mainActive.Load() {
		t.Fatalf("testenv.%s needs the package's TestMain to call testenv.Main, which stops shared servers at the end:\n\tfunc TestMain(m *testing.M) { testenv.Main(m) }", what)
	}
}

// sharedStops holds the stop functions of package-wide servers (shared
// SeaweedFS, private PostgreSQL cluster); Main runs them.
var (
	sharedMu    sync.Mutex
	sharedStops []func()
)

func onShutdown(f func()) {
	sharedMu.Lock()
	sharedStops = append(sharedStops, f)
	sharedMu.Unlock()
}

func shutdownShared() {
	sharedMu.Lock()
	stops := sharedStops
	sharedStops = nil
	sharedMu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
}

// ---- child processes -------------------------------------------------------

// proc is a child process started by testenv. It is stopped by pid only.
type proc struct {
	name    string
	pid     int
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has been reaped
	waitErr error
	// stopSignal is sent first; SIGKILL follows after grace.
	stopSignal syscall.Signal
	grace      time.Duration
	stopOnce   sync.Once
}

var (
	procsMu sync.Mutex
	procs   = map[*proc]struct{}{}
)

// spawnReq asks the spawner goroutine to start a command.
type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

// spawner starts every child from one OS thread that never exits. Pdeathsig
// is delivered when the *thread* that forked the child dies, so children must
// not be started from arbitrary goroutines' threads.
func spawner() {
	runtime.LockOSThread() // never unlocked: the thread lives as long as the process
	for req := range spawnCh {
		req.errc <- req.cmd.Start()
	}
}

func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go spawner()
	})
	errc := make(chan error, 1)
	spawnCh <- spawnReq{cmd: cmd, errc: errc}
	return <-errc
}

// procSpec describes a child process to start.
type procSpec struct {
	name       string
	bin        string
	args       []string
	dir        string
	env        []string // appended to os.Environ()
	logPath    string   // stdout+stderr go here
	cred       *syscall.Credential
	stopSignal syscall.Signal
	grace      time.Duration
}

func startProc(sp procSpec) (*proc, error) {
	logf, err := os.OpenFile(sp.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(sp.bin, sp.args...)
	cmd.Dir = sp.dir
	cmd.Env = append(os.Environ(), sp.env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig:  syscall.SIGKILL,
		Credential: sp.cred,
	}
	if err := startCmd(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", sp.bin, err)
	}
	p := &proc{
		name:       sp.name,
		pid:        cmd.Process.Pid,
		logPath:    sp.logPath,
		cmd:        cmd,
		done:       make(chan struct{}),
		stopSignal: sp.stopSignal,
		grace:      sp.grace,
	}
	if p.stopSignal == 0 {
		p.stopSignal = syscall.SIGTERM
	}
	if p.grace == 0 {
		p.grace = 5 * time.Second
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	procsMu.Lock()
	procs[p] = struct{}{}
	procsMu.Unlock()
	return p, nil
}

// exited reports whether the process has already exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends the stop signal to the pid, then SIGKILL after the grace period,
// and waits until the process is reaped. Idempotent.
func (p *proc) stop() { p.stopWith(p.stopSignal, p.grace) }

// kill sends SIGKILL to the pid and waits. Idempotent (shares stop's once).
func (p *proc) kill() { p.stopWith(syscall.SIGKILL, 0) }

func (p *proc) stopWith(sig syscall.Signal, grace time.Duration) {
	p.stopOnce.Do(func() {
		if !p.exited() {
			_ = syscall.Kill(p.pid, sig)
			if sig != syscall.SIGKILL {
				select {
				case <-p.done:
				case <-time.After(grace):
					_ = syscall.Kill(p.pid, syscall.SIGKILL)
				}
			}
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
			}
		}
		procsMu.Lock()
		delete(procs, p)
		procsMu.Unlock()
	})
	<-p.done
}

func stopAllProcs() {
	procsMu.Lock()
	var all []*proc
	for p := range procs {
		all = append(all, p)
	}
	procsMu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

// ---- temporary directories ---------------------------------------------------

const dirPrefix = "s3ingest-testenv-"

var (
	dirsMu     sync.Mutex
	dirs       = map[string]struct{}{}
	staleSwept sync.Once
)

// makeDir creates a temporary directory owned by this test binary (its pid is
// recorded in owner.pid so a later run can remove it if this one is killed).
func makeDir(kind string) (string, error) {
	staleSwept.Do(sweepStaleDirs)
	d, err := os.MkdirTemp("", dirPrefix+kind+"-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(d, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", err
	}
	dirsMu.Lock()
	dirs[d] = struct{}{}
	dirsMu.Unlock()
	return d, nil
}

func removeDir(d string) {
	_ = os.RemoveAll(d)
	dirsMu.Lock()
	delete(dirs, d)
	dirsMu.Unlock()
}

func removeAllDirs() {
	dirsMu.Lock()
	all := make([]string, 0, len(dirs))
	for d := range dirs {
		all = append(all, d)
	}
	dirsMu.Unlock()
	for _, d := range all {
		removeDir(d)
	}
}

// sweepStaleDirs removes directories left behind by test binaries that were
// killed before they could clean up (their owner pid no longer exists).
func sweepStaleDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range matches {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

// ---- ports and small helpers --------------------------------------------------

// freePorts returns n distinct free TCP ports on 127.0.0.1. All listeners are
// held open until every port is chosen, so the ports are distinct; another
// process may still grab one before the server binds it, which is why the
// starters retry on "address already in use".
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
		}
		ls = append(ls, l)
		p := l.Addr().(*net.TCPAddr).Port
		// gRPC and other derived ports must stay valid; keep them below 55536
		// in case a server adds 10000 to one of them.
		if p > 55535 {
			continue
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// randHex returns n random bytes, hex encoded.
func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// tailFile returns the last max bytes of a file, for error messages.
func tailFile(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := st.Size() - max
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(buf, off)
	return string(buf[:n])
}

// sanitizeName lowercases s and keeps [a-z0-9], replacing runs of anything
// else with sep; the result is trimmed to max bytes and never starts or ends
// with sep.
func sanitizeName(s string, sep byte, max int) string {
	var b strings.Builder
	lastSep := true
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			lastSep = false
		} else if !lastSep {
			b.WriteByte(sep)
			lastSep = true
		}
		if b.Len() >= max {
			break
		}
	}
	out := b.String()
	if len(out) > max {
		out = out[:max]
	}
	return strings.Trim(out, string(sep))
}

// waitTCP waits until addr accepts TCP connections or the process exits.
func waitTCP(addr string, p *proc, deadline time.Time) error {
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited before listening on %s", p.name, addr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within the deadline: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// addrInUse reports whether a log mentions a bind conflict.
func addrInUse(log string) bool {
	l := strings.ToLower(log)
	return strings.Contains(l, "address already in use") || strings.Contains(l, "bind: address")
}
