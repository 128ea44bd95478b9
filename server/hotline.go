package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linli/linli/mutualaid"
	"github.com/linli/linli/mutualaid/hotline"
)

// HotlineConfig points linli at a city hotline speaking Open311 GeoReport
// v2. With no URL, cases wait in the outbox.
type HotlineConfig struct {
	URL            string // e.g. http://127.0.0.1:8311/open311/v2/
	APIKey         string
	JurisdictionID string
	// Every is how often overdue requests are queued, due cases forwarded
	// and open cases followed. Default 10 s.
	Every time.Duration
}

// outboxGauges exposes the outbox's depth and its stuck cases.
type outboxGauges struct {
	outbox *hotline.Outbox
	depth  *prometheus.Desc
	stuck  *prometheus.Desc
}

func newOutboxGauges(o *hotline.Outbox) *outboxGauges {
	return &outboxGauges{
		outbox: o,
		depth:  prometheus.NewDesc("linli_hotline_outbox_pending", "Cases waiting to be forwarded to the hotline.", nil, nil),
		stuck:  prometheus.NewDesc("linli_hotline_outbox_stuck", "Cases the outbox gave up on (shown to staff, never dropped).", nil, nil),
	}
}

func (g *outboxGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.depth
	ch <- g.stuck
}

func (g *outboxGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := g.outbox.Pending(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(g.depth, prometheus.GaugeValue, float64(n))
	}
	if s, err := g.outbox.Stuck(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(g.stuck, prometheus.GaugeValue, float64(len(s)))
	}
}

// newOutbox builds the hotline outbox over the store and the follower of
// its cases. Without a hotline URL, cases wait in the outbox and the
// follower tells residents and staff so.
func (s *Server) newOutbox() {
	h := s.cfg.Hotline
	var client *hotline.Client
	opts := hotline.OutboxOptions{Now: s.cfg.Now, Logger: s.cfg.Logger, Observe: s.metrics.hotlineAttempt}
	if h.URL != "" {
		client = hotline.NewClient(h.URL, h.APIKey, h.JurisdictionID, &http.Client{Timeout: 30 * time.Second})
		opts.Find = hotline.FindByReference(client)
	}
	s.outbox = hotline.NewOutbox(s.store, client, opts)
	s.follower = &mutualaid.CaseFollower{Store: s.store, Outbox: s.outbox, Client: client}
	s.kickc = make(chan struct{}, 1)
}

// kick asks the hotline loop to run now (after a forward).
func (s *Server) kick() {
	select {
	case s.kickc <- struct{}{}:
	default:
	}
}

// hotlineEvery is how often the escalation loops run.
func (s *Server) hotlineEvery() time.Duration {
	if s.cfg.Hotline.Every <= 0 {
		return 10 * time.Second
	}
	return s.cfg.Hotline.Every
}

// runDeadlines moves overdue requests into the staff queue (forwarding
// critical ones by policy) at start, so deadlines that passed while the
// server was down are handled at once, and then every Hotline.Every. It
// runs apart from the hotline's calls, so a slow hotline never delays a
// deadline.
func (s *Server) runDeadlines(ctx context.Context) {
	pass := func() {
		n, err := mutualaid.EscalateOverdue(ctx, s.store)
		if err != nil && ctx.Err() == nil {
			s.log.Error("escalate overdue requests", "err", err)
		}
		if n > 0 {
			s.log.Info("requests overdue", "count", n)
			s.kick() // some may have been forwarded by policy
		}
	}
	pass()
	every(ctx, s.hotlineEvery(), pass)
}

// runHotline forwards due cases and follows open ones, at start, every
// Hotline.Every, and when kicked.
func (s *Server) runHotline(ctx context.Context) {
	t := time.NewTicker(s.hotlineEvery())
	defer t.Stop()
	for {
		s.hotlinePass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kickc:
		}
	}
}

// hotlinePass runs the outbox and the follower once, logging failures
// (this is the edge).
func (s *Server) hotlinePass(ctx context.Context) {
	if s.cfg.Hotline.URL != "" {
		if n, err := s.outbox.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("hotline outbox", "created", n, "err", err)
		}
	}
	if _, err := s.follower.RunOnce(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("follow hotline cases", "err", err)
	}
}

// Outbox is the server's queue of cases for the hotline.
func (s *Server) Outbox() *hotline.Outbox { return s.outbox }
