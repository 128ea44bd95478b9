package server

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/time/rate"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// RateLimits bound how often one address or member may call. A zero Rate
// means the default; a negative one disables that limit.
type RateLimits struct {
	// Join: per client address. Default 1 per 10 s, burst 5: a person
	// mistyping a code is fine; guessing 20-character codes is hopeless.
	Join Limit
	// Refresh: per client address. Default 1 per second, burst 20.
	Refresh Limit
	// Push: per member. Default 50 per second, burst 200.
	Push Limit
}

// Limit is a token bucket: Rate events per second, bursts of Burst.
type Limit struct {
	Rate  float64
	Burst int
}

func (l *RateLimits) setDefaults() {
	def := func(l *Limit, r float64, b int) {
		if l.Rate == 0 {
			l.Rate, l.Burst = r, b
		}
	}
	def(&l.Join, 0.1, 5)
	def(&l.Refresh, 1, 20)
	def(&l.Push, 50, 200)
}

// limiter keeps one token bucket per key, forgetting idle ones.
type limiter struct {
	limit Limit
	now   func() time.Time

	mu      gosync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

func newLimiter(l Limit, now func() time.Time) *limiter {
	return &limiter{limit: l, now: now, buckets: make(map[string]*rate.Limiter)}
}

// allow takes one token for key, or returns how long until one is free.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l.limit.Rate < 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(l.limit.Rate), l.limit.Burst)
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep forgets full buckets every minute, bounding memory by the keys
// active in the last minute.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.limit.Burst) {
			delete(l.buckets, k)
		}
	}
}

// check refuses the call with ResourceExhausted if key is over its limit.
func (l *limiter) check(key string) error {
	ok, wait := l.allow(key)
	if ok {
		return nil
	}
	secs := uint32(min(math.Ceil(wait.Seconds()), math.MaxUint32))
	err := newError(connect.CodeResourceExhausted,
		fmt.Sprintf("too many requests: try again in %d s", secs),
		&linliv1.ErrorDetail{Reason: "rate_limited", RetryAfterSeconds: secs})
	err.Meta().Set("Retry-After", strconv.FormatUint(uint64(secs), 10))
	return err
}

// clientHost is the caller's address, for per-address limits: the peer's
// without the port, or, when the peer is one of trusted (a reverse proxy),
// the right-most address in X-Forwarded-For that is not a trusted proxy.
// Addresses a client wrote into the header itself (left of the proxies')
// are never used, so a client cannot pick its own bucket.
func clientHost(ctx context.Context, trusted []netip.Prefix) string {
	info, ok := connect.CallInfoForHandlerContext(ctx)
	if !ok {
		return "unknown"
	}
	return hostBehind(info.Peer().Addr, info.RequestHeader().Values("X-Forwarded-For"), trusted)
}

// requestHost is clientHost for a plain HTTP request (the staff console).
func requestHost(r *http.Request, trusted []netip.Prefix) string {
	return hostBehind(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted)
}

// hostBehind is the client address of a request from peer that carries
// X-Forwarded-For values xff: see clientHost.
func hostBehind(peer string, xff []string, trusted []netip.Prefix) string {
	host := peer
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !isTrusted(host, trusted) {
		return host
	}
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break // garbage: stop at the last address a trusted proxy vouched for
		}
		if host = a.String(); !isTrusted(host, trusted) {
			break
		}
	}
	return host
}

// viaHTTPS reports whether the browser reached the server over https:
// the connection is TLS, or it comes from a trusted proxy that says so in
// X-Forwarded-Proto (a client's own header is never believed).
func viaHTTPS(r *http.Request, trusted []netip.Prefix) bool {
	if r.TLS != nil {
		return true
	}
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return isTrusted(host, trusted) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port ("203.0.113.5:1111", "[2001:db8::1]:443") or in brackets.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// isTrusted reports whether host is an address inside one of trusted.
func isTrusted(host string, trusted []netip.Prefix) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads a comma-separated list of addresses and CIDR
// prefixes ("10.0.0.0/8, 127.0.0.1"); empty means none.
//
// Errors: an entry that is neither.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want an address or a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
