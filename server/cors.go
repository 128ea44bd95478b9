package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	connectcors "connectrpc.com/cors"
	"github.com/rs/cors"

	"github.com/linli/linli/server/console"
)

// corsMaxAge is how long a browser may keep a preflight's answer, in
// seconds: 2 hours, the most Chromium keeps one.
const corsMaxAge = 2 * 60 * 60

// ParseCORSOrigins parses a comma-separated list of web origins
// ("https://app.example.org,https://h5.example.org:8443"): each a scheme
// (http or https) and a host with an optional port, nothing else. An empty
// string is none. Origins are exact: no wildcards.
func ParseCORSOrigins(s string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		o := strings.TrimSpace(part)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(u.Host, "*") ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%q: want an origin such as https://app.example.org (scheme, host and port only, no wildcard)", o)
		}
		out = append(out, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return out, nil
}

// allowOrigins lets pages from Config.CORSOrigins call the API from a
// browser (Connect, gRPC-Web, streams included): a preflight from one of
// them is answered here, before authentication (which it carries no token
// for), with the methods and headers those protocols and the bearer token
// need; their calls get the CORS headers on every answer, refusals
// included, so that the page can read the reason. Other origins get no
// CORS headers (the browser then keeps the answer from the page). The
// staff console is same-origin only and never gets CORS headers.
func (s *Server) allowOrigins(next http.Handler) http.Handler {
	if len(s.cfg.CORSOrigins) == 0 {
		return next
	}
	allowed := map[string]bool{}
	for _, o := range s.cfg.CORSOrigins {
		allowed[strings.ToLower(o)] = true
	}
	c := cors.New(cors.Options{
		AllowOriginFunc: func(origin string) bool { return allowed[strings.ToLower(origin)] },
		AllowedMethods:  connectcors.AllowedMethods(),
		AllowedHeaders: append(connectcors.AllowedHeaders(),
			"Authorization",            // the bearer token
			"Connect-Accept-Encoding",  // Connect streams' compression
			"Connect-Content-Encoding", //
			"Grpc-Accept-Encoding",     // gRPC-Web compression
			"Grpc-Encoding",            //
			"Content-Encoding",         // a compressed unary request
		),
		ExposedHeaders: append(connectcors.ExposedHeaders(),
			"Retry-After",              // rate_limited, server_busy, disk_full
			"WWW-Authenticate",         // a refused token
			"Connect-Content-Encoding", // a compressed stream
			"Grpc-Encoding",            //
		),
		MaxAge: corsMaxAge,
	})
	h := c.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, console.Prefix) {
			next.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
