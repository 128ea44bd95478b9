package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	gosync "sync"
	"time"

	"connectrpc.com/connect"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/proto/gen/linli/v1/linliv1connect"
)

// echoServer is the bench's same-run baseline: SyncService served with the
// server's Connect options and HTTP settings but no auth and no work behind
// it. Push answers an empty response at once; Subscribe sends one poke and
// then blocks, poking again only when the bench fires its fan-out.
type echoServer struct {
	baseURL string
	fan     *fanout
	cancel  context.CancelFunc
	hs      *http.Server
	served  chan error
}

// startEcho serves the echo service on 127.0.0.1:0 until close; its
// Subscribe pokes with scope's head.
func startEcho(ctx context.Context, log *slog.Logger, scope string) (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("echo: listen: %w", err)
	}
	fan := newFanout()
	mux := http.NewServeMux()
	// The same handler options as server.Server's routes.
	mux.Handle(linliv1connect.NewSyncServiceHandler(echoService{fan: fan, scope: scope},
		connect.WithReadMaxBytes(4<<20),
		connect.WithCompressMinBytes(1024),
	))
	sctx, cancel := context.WithCancel(ctx)
	// The same HTTP settings as server.Server.Serve.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{
		Handler:           mux,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return sctx },
	}
	e := &echoServer{baseURL: "http://" + ln.Addr().String(), fan: fan, cancel: cancel, hs: hs, served: make(chan error, 1)}
	go func() { e.served <- hs.Serve(ln) }()
	return e, nil
}

// close ends the streams, then shuts the server down gracefully.
func (e *echoServer) close() error {
	e.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.hs.Shutdown(ctx)
	if serr := <-e.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

type echoService struct {
	fan   *fanout
	scope string // the scope Subscribe pokes
}

func (echoService) Push(context.Context, *linliv1.PushRequest) (*linliv1.PushResponse, error) {
	return &linliv1.PushResponse{}, nil
}

func (echoService) Pull(context.Context, *linliv1.PullRequest) (*linliv1.PullResponse, error) {
	return nil, connect.NewError(connect.CodeUnimplemented, errors.New("the echo server does not pull"))
}

// Subscribe pokes with the fan-out's generation as the head of the
// service's scope: once at once, then whenever it moves.
func (s echoService) Subscribe(ctx context.Context, _ *linliv1.SubscribeRequest, stream *connect.ServerStream[linliv1.SubscribeResponse]) error {
	var sent uint64
	for first := true; ; first = false {
		gen, moved := s.fan.current()
		if first || gen > sent {
			sent = gen
			if err := stream.Send(pokeOf(s.scope, gen)); err != nil {
				return nil // the client went away
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-moved:
		}
	}
}

func pokeOf(scope string, seq uint64) *linliv1.SubscribeResponse {
	return &linliv1.SubscribeResponse{Event: &linliv1.SubscribeResponse_Poke{Poke: &linliv1.Poke{
		Heads: []*linliv1.ScopeHead{{Scope: scope, Seq: seq}},
	}}}
}

// fanout wakes every waiter at once: a generation count and a channel
// closed when it moves.
type fanout struct {
	mu    gosync.Mutex
	gen   uint64
	moved chan struct{}
}

func newFanout() *fanout { return &fanout{moved: make(chan struct{})} }

// current returns the generation and a channel closed when it next moves.
func (f *fanout) current() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen, f.moved
}

// fire moves the generation and returns the new one.
func (f *fanout) fire() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	close(f.moved)
	f.moved = make(chan struct{})
	return f.gen
}
