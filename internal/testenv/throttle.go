package testenv

import (
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ThrottleOptions give each connection through a ThrottleProxy the shape
// of a real S3 connection: a bounded bandwidth (one connection to AWS S3
// delivers roughly 50–100 MB/s) and a delay before the first byte of each
// answer. The zero value forwards unchanged.
type ThrottleOptions struct {
	// BytesPerSecond bounds what one connection delivers to the client
	// (server to client; requests go unthrottled). 0 means unlimited.
	BytesPerSecond int64
	// FirstByteLatency delays the first byte of each answer: the first
	// bytes from the server after the client has sent something.
	FirstByteLatency time.Duration
}

// ThrottleStats are what a ThrottleProxy saw since it started or since
// ResetStats.
type ThrottleStats struct {
	// Accepted counts the connections accepted.
	Accepted int
	// MaxOpen is the most connections open at once.
	MaxOpen int
	// Cut counts the connections cut by CutAfter.
	Cut int
	// Bytes counts the bytes delivered to clients.
	Bytes int64
}

// ThrottleProxy is a TCP proxy whose every connection is throttled (see
// ThrottleOptions), so tests and benchmarks on loopback see the shape of a
// real network: many parallel connections are needed for a high
// throughput. It counts connections (to see how many a client opens at
// once) and can cut answers in the middle (CutAfter).
type ThrottleProxy struct {
	ln     net.Listener
	target string
	opt    ThrottleOptions
	done   chan struct{}
	wg     sync.WaitGroup
	bytes  atomic.Int64

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	open     int
	stats    ThrottleStats
	cutAfter int64
	cutsLeft int
}

// NewThrottleProxy starts a throttling proxy on 127.0.0.1 to target
// (host:port, or a URL such as an S3Server's or a FaultProxy's endpoint);
// it stops with the test.
func NewThrottleProxy(t testing.TB, target string, opt ThrottleOptions) *ThrottleProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &ThrottleProxy{ln: ln, target: hostPort(target), opt: opt, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// S3ThrottleProxy starts a ThrottleProxy in front of the S3 server's
// Endpoint and returns it; its Endpoint is an S3 endpoint.
func (s *S3Server) S3ThrottleProxy(t testing.TB, opt ThrottleOptions) *ThrottleProxy {
	t.Helper()
	return NewThrottleProxy(t, s.Endpoint, opt)
}

// hostPort returns the host:port of a URL such as http://127.0.0.1:8333.
func hostPort(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		return u.Host
	}
	return endpoint
}

// Addr is the proxy's host:port.
func (p *ThrottleProxy) Addr() string { return p.ln.Addr().String() }

// Endpoint is "http://" + Addr.
func (p *ThrottleProxy) Endpoint() string { return "http://" + p.Addr() }

// Stats returns what the proxy saw.
func (p *ThrottleProxy) Stats() ThrottleStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Bytes = p.bytes.Load()
	return s
}

// ResetStats starts counting again (MaxOpen from the connections open now).
func (p *ThrottleProxy) ResetStats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = ThrottleStats{MaxOpen: p.open}
	p.bytes.Store(0)
}

// CutAfter makes the proxy cut the next n answers that are longer than
// after bytes (headers included): after delivering that many bytes of the
// answer it closes both sides of the connection, as a network failure in
// the middle of a body would.
func (p *ThrottleProxy) CutAfter(after int64, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutAfter, p.cutsLeft = after, n
}

// close stops the proxy and every connection and waits for them.
func (p *ThrottleProxy) close() {
	p.ln.Close()
	close(p.done)
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *ThrottleProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		select {
		case <-p.done:
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		default:
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.open++
		p.stats.Accepted++
		p.stats.MaxOpen = max(p.stats.MaxOpen, p.open)
		p.wg.Add(2)
		p.mu.Unlock()
		tc := &throttledConn{p: p, client: c, up: up}
		go tc.requests()
		go tc.answers()
	}
}

// throttledConn is one proxied connection; requests and answers are its
// two goroutines (owned by the proxy's wait group; each ends when its
// side closes, and closes both).
type throttledConn struct {
	p          *ThrottleProxy
	client, up net.Conn
	asked      atomic.Bool // the client sent bytes not yet answered
	closeOnce  sync.Once
}

func (c *throttledConn) close() {
	c.closeOnce.Do(func() {
		c.client.Close()
		c.up.Close()
		c.p.mu.Lock()
		delete(c.p.conns, c.client)
		delete(c.p.conns, c.up)
		c.p.open--
		c.p.mu.Unlock()
	})
}

// requests copies client to server, marking that an answer is due.
func (c *throttledConn) requests() {
	defer c.p.wg.Done()
	defer c.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.client.Read(buf)
		if n > 0 {
			c.asked.Store(true)
			if _, werr := c.up.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// answers copies server to client at the throttled rate.
func (c *throttledConn) answers() {
	defer c.p.wg.Done()
	defer c.close()
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	rate := c.p.opt.BytesPerSecond
	var next time.Time // when the bytes sent so far have been paid for
	var answered int64 // bytes of the current answer
	for {
		n, err := c.up.Read(buf)
		if n > 0 {
			if c.asked.Swap(false) {
				answered = 0
				if !c.sleep(c.p.opt.FirstByteLatency) {
					return
				}
				next = time.Time{}
			}
			data := buf[:n]
			if cut := c.cutAt(answered, int64(n)); cut >= 0 {
				data = data[:cut]
				if c.send(data, rate, &next) {
					answered += int64(len(data))
				}
				return // close() cuts both sides
			}
			if !c.send(data, rate, &next) {
				return
			}
			answered += int64(n)
		}
		if err != nil {
			return
		}
	}
}

// cutAt returns where in the next n bytes of an answer that already sent
// answered bytes the connection is to be cut, or -1.
func (c *throttledConn) cutAt(answered, n int64) int64 {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if c.p.cutsLeft <= 0 || answered+n <= c.p.cutAfter {
		return -1
	}
	c.p.cutsLeft--
	c.p.stats.Cut++
	return max(0, c.p.cutAfter-answered)
}

// maxLag is how far behind its schedule a connection may fall and still
// catch up (timers oversleep, more so on a loaded machine): without it a
// connection would deliver less than its rate.
const maxLag = 20 * time.Millisecond

// send writes data to the client no faster than rate bytes/s on average
// (next carries the schedule between calls: an answer starts on time, and
// a connection late by more than maxLag earns no more credit).
func (c *throttledConn) send(data []byte, rate int64, next *time.Time) bool {
	if rate > 0 {
		now := time.Now()
		if next.IsZero() {
			*next = now
		} else if late := now.Add(-maxLag); next.Before(late) {
			*next = late
		}
		*next = next.Add(time.Duration(int64(len(data)) * int64(time.Second) / rate))
		if !c.sleep(time.Until(*next)) {
			return false
		}
	}
	if _, err := c.client.Write(data); err != nil {
		return false
	}
	c.p.bytes.Add(int64(len(data)))
	return true
}

// sleep waits d unless the proxy closes (false then).
func (c *throttledConn) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.p.done:
		return false
	}
}
