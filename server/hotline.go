package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linli/linli/mutualaid/hotline"
)

// HotlineConfig points linli at a city hotline speaking Open311 GeoReport
// v2. With no URL, cases wait in the outbox.
type HotlineConfig struct {
	URL            string // e.g. http://127.0.0.1:8311/open311/v2/
	APIKey         string
	JurisdictionID string
	// Every is how often the outbox forwards due cases. Default 10 s.
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

// newOutbox builds the hotline outbox over the store; it forwards only when
// a hotline URL is configured.
func (s *Server) newOutbox() *hotline.Outbox {
	h := s.cfg.Hotline
	client := hotline.NewClient(h.URL, h.APIKey, h.JurisdictionID, &http.Client{Timeout: 30 * time.Second})
	return hotline.NewOutbox(s.store, client, hotline.OutboxOptions{Now: s.cfg.Now, Logger: s.log.With("component", "outbox")})
}

// runOutbox forwards due cases until ctx ends, when a hotline is configured.
func (s *Server) runOutbox(ctx context.Context) {
	if s.cfg.Hotline.URL == "" {
		return
	}
	every := s.cfg.Hotline.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	if err := s.outbox.Run(ctx, every); err != nil && ctx.Err() == nil {
		s.log.Error("hotline outbox stopped", "err", err)
	}
}

// Outbox is the server's queue of cases for the hotline.
func (s *Server) Outbox() *hotline.Outbox { return s.outbox }
