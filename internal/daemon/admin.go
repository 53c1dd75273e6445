package daemon

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// checkAdminAuth refuses an admin server on a non-loopback address without
// a token, unless the operator allowed it explicitly.
func checkAdminAuth(addr, token string, allowUnauthenticated bool) error {
	if addr == "" || token != "" || allowUnauthenticated || isLoopback(addr) {
		return nil
	}
	return fmt.Errorf("admin address %s (S3INGEST_ADMIN_ADDR) is not loopback and no S3INGEST_ADMIN_TOKEN is set: "+
		"anyone who reaches it could read every task payload and, unless read-only, delete tasks; "+
		"set S3INGEST_ADMIN_TOKEN (e.g. from a Kubernetes Secret), listen on 127.0.0.1, "+
		"or set S3INGEST_ADMIN_ALLOW_UNAUTHENTICATED=true if a proxy in front authenticates", addr)
}

// isLoopback reports whether a listen address only accepts local
// connections: an explicit loopback IP or "localhost". An empty host
// (":9090") listens everywhere.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// requireToken serves next only to requests that present token as a
// bearer token or as the basic-auth password; an empty token lets every
// request through.
func requireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got string
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			got = strings.TrimSpace(b)
		} else if _, p, ok := r.BasicAuth(); ok {
			got = p
		}
		sum := sha256.Sum256([]byte(got))
		if got == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="ingestd", charset="UTF-8"`)
			http.Error(w, "authentication required: send the admin token (S3INGEST_ADMIN_TOKEN) as a bearer token or as the basic-auth password", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
