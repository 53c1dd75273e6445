package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables understood by Postgres.
const (
	// EnvPostgresAdminDSN names an admin DSN (a superuser, or a role with
	// CREATEDB) to use instead of probing 127.0.0.1:5432.
	EnvPostgresAdminDSN = "S3INGEST_PG_ADMIN_DSN"
	// EnvPostgresPrivate, when "1", skips the server on 127.0.0.1:5432 and
	// always starts a private cluster (initdb + postgres in a temp dir).
	EnvPostgresPrivate = "S3INGEST_PG_PRIVATE"
)

var (
	pgMu       sync.Mutex
	pgAdminDSN string // chosen once per test binary
	pgErr      error  // sticky failure: do not retry a failed private cluster
)

// Postgres returns a DSN (postgres://user@127.0.0.1:port/db?sslmode=disable)
// for a fresh, empty database created for this test and dropped in cleanup.
// It uses the server on 127.0.0.1:5432 (trust auth, user postgres or root)
// if reachable; else it runs initdb and starts a private cluster in a temp dir
// on a free port (once per test binary, stopped by Main). Set
// S3INGEST_PG_ADMIN_DSN to use another server, or S3INGEST_PG_PRIVATE=1 to
// force the private cluster.
func Postgres(t testing.TB) string {
	t.Helper()
	requireMain(t, "Postgres")
	admin, err := postgresAdmin()
	if err != nil {
		t.Fatalf("testenv: no PostgreSQL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testenv: connect to PostgreSQL admin DSN %s: %v", redactDSN(admin), err)
	}
	defer conn.Close(context.Background())

	name := "t_" + sanitizeName(t.Name(), '_', 40) + "_" + randHex(4)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testenv: CREATE DATABASE %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("testenv: drop database %s: connect: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		q := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize()
		if _, err := c.Exec(ctx, q+" WITH (FORCE)"); err != nil {
			if _, err2 := c.Exec(ctx, q); err2 != nil {
				t.Errorf("testenv: drop database %s: %v", name, err2)
			}
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// postgresAdmin returns an admin DSN, choosing (once) between the configured
// DSN, the local server on :5432 and a private cluster.
func postgresAdmin() (string, error) {
	pgMu.Lock()
	defer pgMu.Unlock()
	if pgAdminDSN != "" {
		return pgAdminDSN, nil
	}
	if pgErr != nil {
		return "", pgErr
	}
	if dsn := os.Getenv(EnvPostgresAdminDSN); dsn != "" {
		if err := pgProbe(dsn); err != nil {
			pgErr = fmt.Errorf("%s=%s is not usable: %w", EnvPostgresAdminDSN, redactDSN(dsn), err)
			return "", pgErr
		}
		pgAdminDSN = dsn
		return dsn, nil
	}
	var probeErrs []string
	if os.Getenv(EnvPostgresPrivate) != "1" {
		for _, u := range []string{"postgres", "root"} {
			dsn := "postgres://" + u + "@127.0.0.1:5432/postgres?sslmode=disable"
			err := pgProbe(dsn)
			if err == nil {
				pgAdminDSN = dsn
				return dsn, nil
			}
			probeErrs = append(probeErrs, fmt.Sprintf("%s: %v", u, err))
		}
	}
	dsn, err := startPrivatePostgres()
	if err != nil {
		msg := fmt.Sprintf("start a private cluster: %v", err)
		if len(probeErrs) > 0 {
			msg = fmt.Sprintf("127.0.0.1:5432 not usable (%s); %s", strings.Join(probeErrs, "; "), msg)
		}
		pgErr = errors.New(msg + "\nRun scripts/test.sh (it installs postgresql), or: apt-get install -y postgresql")
		return "", pgErr
	}
	pgAdminDSN = dsn
	return dsn, nil
}

// pgProbe checks that dsn connects and may create databases.
func pgProbe(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	var ok bool
	if err := c.QueryRow(ctx, "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user").Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return errors.New("role may not create databases")
	}
	return nil
}

// pgBinary finds a PostgreSQL server binary (initdb, postgres) in PATH or in
// Debian's /usr/lib/postgresql/<version>/bin (newest version first).
func pgBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
		return vi > vj
	})
	for _, m := range matches {
		if isExecutable(m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/lib/postgresql/*/bin", name)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// startPrivatePostgres runs initdb in a temp dir and starts postgres in the
// foreground (so it dies with the test binary) on a free port. PostgreSQL
// refuses to run as root; as root it runs as the "postgres" user.
func startPrivatePostgres() (string, error) {
	initdb, err := pgBinary("initdb")
	if err != nil {
		return "", err
	}
	// postgres lives next to initdb
	postgres := filepath.Join(filepath.Dir(initdb), "postgres")
	if !isExecutable(postgres) {
		if postgres, err = pgBinary("postgres"); err != nil {
			return "", err
		}
	}
	dir, err := makeDir("pg")
	if err != nil {
		return "", err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			removeDir(dir)
			return "", fmt.Errorf("running as root, and PostgreSQL refuses root: need the \"postgres\" system user (apt-get install -y postgresql creates it): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			removeDir(dir)
			return "", err
		}
	}
	data := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "postgres.log")
	if cred != nil {
		// the log file is created by us (root); make it writable for the server
		if f, err := os.Create(logPath); err == nil {
			f.Close()
			_ = os.Chown(logPath, int(cred.Uid), int(cred.Gid))
		}
	}
	initCmd := exec.Command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C")
	initCmd.Dir = dir
	initCmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initCmd.CombinedOutput(); err != nil {
		removeDir(dir)
		return "", fmt.Errorf("%s: %v\n%s", initdb, err, out)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			return "", err
		}
		port := ports[0]
		p, err := startProc(procSpec{
			name: "postgres",
			bin:  postgres,
			args: []string{
				"-D", data,
				"-p", strconv.Itoa(port),
				"-k", dir,
				"-c", "listen_addresses=127.0.0.1",
				"-c", "fsync=off",
				"-c", "synchronous_commit=off",
				"-c", "full_page_writes=off",
				"-c", "max_connections=200",
			},
			dir:        dir,
			logPath:    logPath,
			cred:       cred,
			stopSignal: syscall.SIGINT, // fast shutdown
			grace:      10 * time.Second,
		})
		if err != nil {
			removeDir(dir)
			return "", err
		}
		dsn := "postgres://postgres@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/postgres?sslmode=disable"
		deadline := time.Now().Add(30 * time.Second)
		for {
			if lastErr = pgProbe(dsn); lastErr == nil {
				onShutdown(func() { p.stop(); removeDir(dir) })
				return dsn, nil
			}
			if p.exited() || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.kill()
		log := tailFile(logPath, 3000)
		if !addrInUse(log) {
			lastErr = fmt.Errorf("postgres did not become ready: %v\nlog (%s):\n%s", lastErr, logPath, log)
			break
		}
	}
	removeDir(dir)
	return "", lastErr
}
