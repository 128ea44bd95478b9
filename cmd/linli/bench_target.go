package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/cockroachdb/pebble/v2"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
	"github.com/linli/linli/server"
)

// benchTarget is the server under measurement: started in-process, or a
// running one reached at --addr.
type benchTarget struct {
	name    string // "in-process" or the address
	baseURL string
	tokens  *server.Tokens
	// inProcess is true when the server runs in this process, so that its
	// memory can be read from /proc/self.
	inProcess bool
	// db is the in-process server's database (nil with --addr), to let its
	// compactions settle between scenarios.
	db    *pebble.DB
	close func() error
}

// openTarget starts the in-process server, or checks that --addr answers
// and loads the keys in --data to mint tokens it accepts.
func openTarget(ctx context.Context, f benchFlags, log *slog.Logger) (*benchTarget, error) {
	if f.addr != "" {
		return remoteTarget(ctx, f)
	}
	dir, err := os.MkdirTemp("", "linli-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp folder: %w", err)
	}
	srv, err := server.New(server.Config{DataDir: dir, Logger: log})
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("listen: %w", err), srv.Close(), os.RemoveAll(dir))
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	return &benchTarget{
		name:      "in-process",
		baseURL:   "http://" + ln.Addr().String(),
		tokens:    srv.Tokens(),
		inProcess: true,
		db:        srv.Store().DB(),
		close: func() error {
			cancel()
			err := <-served
			return errors.Join(err, srv.Close(), os.RemoveAll(dir))
		},
	}, nil
}

func remoteTarget(ctx context.Context, f benchFlags) (*benchTarget, error) {
	if _, err := os.Stat(filepath.Join(f.data, "keys")); err != nil {
		return nil, fmt.Errorf("--data %s: no signing keys: %w", f.data, err)
	}
	keys, err := server.LoadOrCreateKeys(f.data)
	if err != nil {
		return nil, err
	}
	base := "http://" + f.addr
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return nil, fmt.Errorf("--addr %s: %w", f.addr, err)
	}
	tr := newBenchTransport("http1")
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("--addr %s: %w", f.addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("--addr %s: /healthz answered %s", f.addr, resp.Status)
	}
	return &benchTarget{name: f.addr, baseURL: base, tokens: server.NewTokens(keys), close: func() error { return nil }}, nil
}

// settle lets the in-process server's compactions finish (at most 30 s);
// it does nothing with --addr.
func (t *benchTarget) settle(ctx context.Context) (time.Duration, error) {
	if t.db == nil {
		return 0, nil
	}
	return settleCompactions(ctx, t.db, 30*time.Second)
}

// token mints a resident's token for user in community.
func (t *benchTarget) token(user, community string) (string, error) {
	tok, err := t.tokens.Mint(server.Principal{UserID: user, CommunityID: community, Role: server.RoleResident}, 2*time.Hour)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return tok, nil
}

// newBenchTransport returns a transport speaking HTTP/1.1 ("http1") or
// HTTP/2 without TLS ("h2c"), keeping enough idle connections that
// concurrent callers never redial.
func newBenchTransport(protocol string) *http.Transport {
	var p http.Protocols
	if protocol == "h2c" {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           &p,
	}
}

// benchClientOptions turn gzip off: connect-go asks for gzipped responses
// by default, which costs more than it saves on a fast link (design.md).
var benchClientOptions = []connect.ClientOption{connect.WithAcceptCompression("gzip", nil, nil)}

// syncClient is SyncService through the generic Connect API, so that every
// call can carry its caller's bearer token.
type syncClient struct {
	push      *connect.Client[linliv1.PushRequest, linliv1.PushResponse]
	pull      *connect.Client[linliv1.PullRequest, linliv1.PullResponse]
	subscribe *connect.Client[linliv1.SubscribeRequest, linliv1.SubscribeResponse]
}

func newSyncClient(hc connect.HTTPClient, baseURL string) *syncClient {
	return &syncClient{
		push:      connect.NewClient[linliv1.PushRequest, linliv1.PushResponse](hc, baseURL+linliv1connect.SyncServicePushProcedure, benchClientOptions...),
		pull:      connect.NewClient[linliv1.PullRequest, linliv1.PullResponse](hc, baseURL+linliv1connect.SyncServicePullProcedure, benchClientOptions...),
		subscribe: connect.NewClient[linliv1.SubscribeRequest, linliv1.SubscribeResponse](hc, baseURL+linliv1connect.SyncServiceSubscribeProcedure, benchClientOptions...),
	}
}

func authed[T any](msg *T, token string) *connect.Request[T] {
	r := connect.NewRequest(msg)
	if token != "" {
		r.Header().Set("Authorization", "Bearer "+token)
	}
	return r
}

func (c *syncClient) Push(ctx context.Context, token string, req *linliv1.PushRequest) (*linliv1.PushResponse, error) {
	resp, err := c.push.CallUnary(ctx, authed(req, token))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func (c *syncClient) Pull(ctx context.Context, token string, req *linliv1.PullRequest) (*linliv1.PullResponse, error) {
	resp, err := c.pull.CallUnary(ctx, authed(req, token))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func (c *syncClient) Subscribe(ctx context.Context, token string, req *linliv1.SubscribeRequest) (*connect.ServerStreamForClient[linliv1.SubscribeResponse], error) {
	return c.subscribe.CallServerStream(ctx, authed(req, token))
}

// settledRSS returns this process's resident set size in bytes after a
// full garbage collection that returns free memory to the OS.
func settledRSS() (int64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}
