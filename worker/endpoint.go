package worker

import (
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.uber.org/zap"

	"github.com/s3ingest/s3ingest/worker/source"
)

// ErrEndpointRefused is returned when a credential instance's S3-compatible
// endpoint resolves to a loopback, private, link-local or otherwise
// internal address and Config.AllowPrivateEndpoints is not set: customer
// endpoints must not reach the daemon's own network (metadata services,
// admin ports). It is permanent (it has Permanent() true), also when found
// inside an S3 error.
var ErrEndpointRefused error = &refusedError{}

// refusedError is the type of ErrEndpointRefused.
type refusedError struct{}

// Error names the refusal; the dialer's error says which address.
func (*refusedError) Error() string { return "endpoint refused" }

// Permanent reports true: the endpoint stays internal.
func (*refusedError) Permanent() bool { return true }

// Fix says how to proceed.
func (*refusedError) Fix() string {
	return "name a public S3 endpoint in the credential instance (an operator can allow private endpoints with S3INGEST_ALLOW_PRIVATE_ENDPOINTS=true)"
}

// publicOnlyDialer refuses connections to internal addresses. The check runs
// on the resolved address at dial time, so DNS tricks cannot get around it.
func publicOnlyDialer() *net.Dialer {
	return &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil || internalIP(ip) {
				return fmt.Errorf("%w: %s is an internal address; credential endpoints must be public (an operator can allow private endpoints with S3INGEST_ALLOW_PRIVATE_ENDPOINTS=true)", ErrEndpointRefused, host)
			}
			return nil
		},
	}
}

// transports are the HTTP clients and the region cache shared by every
// task of a process, so connections are reused across tasks and each
// bucket's region is looked up once.
type transports struct {
	trusted *http.Client // AWS and the operator's S3INGEST_S3_ENDPOINT
	custom  *http.Client // credential instances' own endpoints
	regions *source.RegionCache
}

func newTransports(allowPrivate bool) *transports {
	t := &transports{trusted: newHTTPClient(nil), regions: source.NewRegionCache(0)}
	t.custom = t.trusted
	if !allowPrivate {
		t.custom = newHTTPClient(publicOnlyDialer())
	}
	return t
}

// newHTTPClient returns a client with the SDK's timeouts and a connection
// pool sized for many concurrent object reads; with a dialer, it dials only
// through it (and no proxy, which would dial on our behalf past its checks).
func newHTTPClient(d *net.Dialer) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	tr.IdleConnTimeout = 90 * time.Second
	tr.ResponseHeaderTimeout = 2 * time.Minute
	if d != nil {
		tr.DialContext = d.DialContext
		tr.Proxy = nil
	}
	return &http.Client{Transport: tr}
}

// sourceOptions returns the S3 client options for credentials with the
// given region and endpoint: a credential instance's own endpoint goes
// through the guarded transport; without one, the operator's S3Endpoint or
// AWS. fixed names credentials that cannot refresh ("" if they can; see
// source.Options.FixedCredentials).
func (h *Handlers) sourceOptions(region, endpoint, fixed string) source.Options {
	fetch := h.cfg.fetch()
	fetch.Observe = h.observeFetch
	opt := source.Options{Region: region, Endpoint: endpoint, Regions: h.http.regions, HTTPClient: h.http.custom, FixedCredentials: fixed,
		Fetch: fetch}
	if opt.Endpoint == "" {
		opt.Endpoint = h.cfg.S3Endpoint
		opt.HTTPClient = h.http.trusted
	}
	if opt.Endpoint != "" && opt.Region == "" {
		opt.Region = h.cfg.S3Region
	}
	return opt
}

// newSource returns an S3 client for creds (fixed: see sourceOptions).
func (h *Handlers) newSource(creds aws.CredentialsProvider, region, endpoint, fixed string) *source.Client {
	return source.New(creds, h.sourceOptions(region, endpoint, fixed))
}

// PublicOnlyHTTPClient returns an HTTP client that refuses, at dial time,
// every internal address (as ingestd does for credential endpoints unless
// S3INGEST_ALLOW_PRIVATE_ENDPOINTS is set); refusals wrap
// ErrEndpointRefused. ingestctl's `credential test` uses it.
func PublicOnlyHTTPClient() *http.Client { return newHTTPClient(publicOnlyDialer()) }

// observeFetch counts an adaptive read's choice and logs it at debug
// level with the rates it measured.
func (h *Handlers) observeFetch(c source.FetchChoice) {
	way := "get"
	if c.Parts {
		way = "parts"
	}
	h.metrics.fetchChoices.WithLabelValues(way).Inc()
	h.log.Debug("fetch: chose how to read the rest of the object", zap.String("object", c.Object), zap.String("way", way),
		zap.Float64("get_mb_per_s", c.GETBytesPerSecond/1e6), zap.Float64("parts_mb_per_s", c.PartsBytesPerSecond/1e6), zap.Duration("get_wait", c.GETWait), zap.Duration("parts_wait", c.PartsWait))
}
