package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server process started for one test.
type RedisServer struct {
	// Addr is host:port, e.g. "127.0.0.1:40123".
	Addr string

	mu   sync.Mutex
	port int
	dir  string
	opts RedisOptions
	proc *proc
}

// RedisOptions configures a test's redis-server. The zero value is the
// default of Redis: no persistence at all.
type RedisOptions struct {
	// AppendOnly turns the append-only file on (deploy/redis.conf's
	// "appendonly yes"). The data directory is kept across Stop, Kill and
	// Restart, so a restarted server loads what the stopped one wrote.
	AppendOnly bool
	// AppendFsync is "always", "everysec" (deploy/redis.conf's choice) or
	// "no"; empty means everysec. Used only with AppendOnly.
	AppendFsync string
}

// RedisWithAOF starts a redis-server persisting as deploy/redis.conf
// configures it (appendonly yes, with appendfsync fsync: "always" or
// "everysec"), keeping its data directory across Restart. Otherwise it is
// Redis.
func RedisWithAOF(t testing.TB, fsync string) *RedisServer {
	t.Helper()
	return RedisWith(t, RedisOptions{AppendOnly: true, AppendFsync: fsync})
}

// Redis starts a fresh redis-server (Debian package) on a free 127.0.0.1 port
// for this test and stops it in t.Cleanup by pid. It runs without persistence:
//
//	redis-server --port P --bind 127.0.0.1 --save "" --appendonly no --daemonize no --pidfile D/redis.pid --dir D
//
// The server runs in the foreground (not daemonized) so that it dies with the
// test binary even if the binary is killed.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	return RedisWith(t, RedisOptions{})
}

// RedisWith is Redis with the persistence opts describes.
func RedisWith(t testing.TB, opts RedisOptions) *RedisServer {
	t.Helper()
	bin := redisBinary(t)
	dir, err := makeDir("redis")
	if err != nil {
		t.Fatalf("testenv: redis temp dir: %v", err)
	}
	r := &RedisServer{dir: dir, opts: opts}
	t.Cleanup(func() {
		r.Stop()
		removeDir(dir)
	})
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		if lastErr = r.start(bin, ports[0]); lastErr == nil {
			return r
		}
		if !strings.Contains(lastErr.Error(), "in use") {
			break
		}
	}
	t.Fatalf("testenv: start redis-server: %v", lastErr)
	return nil
}

func redisBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
		if isExecutable(p) {
			return p
		}
	}
	t.Fatalf("testenv: redis-server not found in PATH. Run scripts/test.sh (it installs it), or: apt-get install -y redis-server")
	return ""
}

func (r *RedisServer) start(bin string, port int) error {
	logPath := filepath.Join(r.dir, "redis.log")
	persist := []string{"--appendonly", "no"}
	if r.opts.AppendOnly {
		fsync := r.opts.AppendFsync
		if fsync == "" {
			fsync = "everysec"
		}
		persist = []string{"--appendonly", "yes", "--appendfsync", fsync}
	}
	p, err := startProc(procSpec{
		name: "redis-server",
		bin:  bin,
		args: append([]string{
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--save", "",
			"--daemonize", "no",
			"--pidfile", filepath.Join(r.dir, "redis.pid"),
			"--dir", r.dir,
			"--logfile", "",
		}, persist...),
		dir:        r.dir,
		logPath:    logPath,
		stopSignal: syscall.SIGTERM,
		grace:      3 * time.Second,
	})
	if err != nil {
		return err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitRedis(addr, p, time.Now().Add(15*time.Second)); err != nil {
		p.kill()
		log := tailFile(logPath, 2000)
		if addrInUse(log) {
			return fmt.Errorf("port %d in use", port)
		}
		return fmt.Errorf("%v\nredis log (%s):\n%s", err, logPath, log)
	}
	r.mu.Lock()
	if r.Addr != addr { // Restart reuses the address; do not write the field tests read
		r.Addr = addr
	}
	r.port, r.proc = port, p
	r.mu.Unlock()
	return nil
}

// waitRedis waits until addr answers PING with PONG.
func waitRedis(addr string, p *proc, deadline time.Time) error {
	for {
		if err := pingRedis(addr); err == nil {
			return nil
		} else if p.exited() {
			return fmt.Errorf("redis-server exited: %v", err)
		} else if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s not ready: %v", addr, err)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func pingRedis(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// URL returns redis://127.0.0.1:P/0.
func (r *RedisServer) URL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "redis://" + r.Addr + "/0"
}

// Client returns a go-redis v9 client for this server (DB 0), closed on
// cleanup.
func (r *RedisServer) Client(t testing.TB) *redis.Client {
	t.Helper()
	r.mu.Lock()
	addr := r.Addr
	r.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: redis client PING %s: %v", addr, err)
	}
	return c
}

// Stop kills the server by pid now (SIGKILL) and waits until it has exited,
// so its port refuses connections when Stop returns. Used by tests of
// reconnect behaviour. Idempotent.
func (r *RedisServer) Stop() {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// Terminate stops the server cleanly (SIGTERM: with AppendOnly it flushes
// its append-only file first; SIGKILL after 10 s) and waits until it has
// exited. Idempotent, as Stop.
func (r *RedisServer) Terminate() {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p != nil {
		p.stopWith(syscall.SIGTERM, 10*time.Second)
	}
}

// LogPath is the file the server (every start of it) logs to.
func (r *RedisServer) LogPath() string { return filepath.Join(r.dir, "redis.log") }

// Restart starts a new redis-server on the same address after Stop
// (stopping the running one first, with SIGKILL, if needed). Without
// persistence it starts empty; with AppendOnly it loads the append-only
// file of the stopped one from the kept data directory. Clients reconnect
// to the same Addr. Fails the test if the port was taken in the meantime.
func (r *RedisServer) Restart(t testing.TB) {
	t.Helper()
	r.Stop()
	r.mu.Lock()
	port := r.port
	r.mu.Unlock()
	if err := r.start(redisBinary(t), port); err != nil {
		t.Fatalf("testenv: restart redis-server on port %d: %v", port, err)
	}
}
