package mutualaid

import linlisync "github.com/linli/linli/sync"

// Store is the service's store, for tests that read or write it directly.
func (s *Service) Store() *linlisync.Store { return s.store }

// UseHotline points the service's outbox and case follower at another
// hotline, as a restart with other flags would.
func (s *Service) UseHotline(h HotlineConfig) {
	h.Every = s.cfg.Hotline.Every
	if h.HTTPClient == nil {
		h.HTTPClient = s.cfg.Hotline.HTTPClient
	}
	s.cfg.Hotline = h
	s.outbox, s.follower = s.newHotline()
}

// SetFollowBatch bounds the cases one FollowCases follows (0: 500).
func (s *Service) SetFollowBatch(n int) { s.follower.batch = n }
