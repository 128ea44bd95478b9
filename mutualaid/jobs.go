package mutualaid

import (
	"context"
	"errors"
	"time"

	"github.com/linli/linli/mutualaid/hotline"
)

// Job names a background job of the service (see Service.Start), as
// Config.AfterPass reports it.
type Job string

// The background jobs.
const (
	// JobDeadlines moves overdue requests into the staff queue, forwarding
	// critical ones by policy (EscalateOverdue).
	JobDeadlines Job = "deadlines"
	// JobHotline forwards due cases to the hotline and follows open ones
	// (ForwardCases, then FollowCases).
	JobHotline Job = "hotline"
	// JobRefresh expires offers whose medicine expired and re-ranks
	// suggestions (RefreshMatches).
	JobRefresh Job = "refresh"
	// JobNotify sends the notifications waiting (RunNotifications).
	JobNotify Job = "notify"
)

// notifyGap is the least time between two notify passes woken by commits:
// a busy store commits hundreds of times a second, and notifications need
// not leave faster than this.
const notifyGap = 50 * time.Millisecond

// runDeadlines runs the deadlines pass at once, so that deadlines passed
// while the service was down are handled, then every Hotline.Every. It
// runs apart from the hotline's calls, so a slow hotline never delays a
// deadline.
func (s *Service) runDeadlines(ctx context.Context) {
	pass := func() {
		if !s.active() {
			return
		}
		n, err := s.EscalateOverdue(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("escalate overdue requests", "err", err)
		}
		if n > 0 {
			s.log.Info("requests overdue", "count", n)
			s.kick() // some may have been forwarded by policy
		}
		s.afterPass(JobDeadlines, n, err)
	}
	pass()
	every(ctx, s.cfg.Hotline.Every, pass)
}

// runHotline forwards due cases and follows open ones, at once, every
// Hotline.Every, and when kicked (after a forward).
func (s *Service) runHotline(ctx context.Context) {
	t := time.NewTicker(s.cfg.Hotline.Every)
	defer t.Stop()
	for {
		if s.active() {
			created, ferr := s.ForwardCases(ctx)
			if ferr != nil && ctx.Err() == nil {
				s.log.Warn("hotline outbox", "created", created, "err", ferr)
			}
			changed, err := s.FollowCases(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("follow hotline cases", "err", err)
			}
			s.afterPass(JobHotline, created+changed, errors.Join(ferr, err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kickc:
		}
	}
}

// runRefresh expires offers whose medicine expired and re-ranks
// suggestions every RefreshEvery, so that quiet communities stay true too.
func (s *Service) runRefresh(ctx context.Context) {
	every(ctx, s.cfg.RefreshEvery, func() {
		if !s.active() {
			return
		}
		n, err := s.RefreshMatches(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("refresh matches", "err", err)
		} else if n > 0 {
			s.log.Info("refreshed matches", "offers", n)
		}
		s.afterPass(JobRefresh, n, err)
	})
}

// runNotify sends waiting notifications at once (those left by a
// previous run), soon after any commit (which may have left some), and
// every Push.Every (retries whose backoff ended, quiet hours that ended).
func (s *Service) runNotify(ctx context.Context) {
	t := time.NewTicker(s.cfg.Push.Every)
	defer t.Stop()
	for {
		n, err := s.RunNotifications(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("notifications", "sent", n, "err", err)
		}
		s.afterPass(JobNotify, n, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.notifyc:
			select { // let a burst of commits settle
			case <-ctx.Done():
				return
			case <-time.After(notifyGap):
			}
		}
	}
}

// kickNotify asks the notify job to run soon (after a commit).
func (s *Service) kickNotify() {
	select {
	case s.notifyc <- struct{}{}:
	default:
	}
}

// afterPass tells Config.AfterPass, if set, that a pass of job ended.
func (s *Service) afterPass(job Job, n int, err error) {
	if s.cfg.AfterPass != nil {
		s.cfg.AfterPass(job, n, err)
	}
}

// active reports whether background passes may run now (Config.Active).
func (s *Service) active() bool { return s.cfg.Active == nil || s.cfg.Active() }

// kick asks the hotline job to run now (after a forward).
func (s *Service) kick() {
	select {
	case s.kickc <- struct{}{}:
	default:
	}
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// newHotline builds the outbox of cases for the configured hotline (or for
// none) and the follower of its cases.
func (s *Service) newHotline() (*hotline.Outbox, *caseFollower) {
	h := s.cfg.Hotline
	var client *hotline.Client
	opts := hotline.OutboxOptions{Now: s.cfg.Now, Logger: s.cfg.Logger, Observe: h.OnAttempt}
	if h.URL != "" {
		client = hotline.NewClient(h.URL, h.APIKey, h.JurisdictionID, h.HTTPClient)
		opts.Find = hotline.FindByReference(client)
	}
	ob := hotline.NewOutbox(s.store, client, opts)
	return ob, &caseFollower{store: s.store, outbox: ob, client: client}
}

// ForwardCases runs the hotline outbox once: every due case is sent (or
// looked up, if an earlier attempt's outcome is unknown), at most once per
// request across restarts. It returns how many cases the hotline created.
// Without a hotline configured it does nothing: cases wait.
//
// Errors: ctx's, storage errors, the hotline's failures (joined; each is
// also recorded in its case, which is retried with backoff or, refused,
// shown to staff as stuck).
func (s *Service) ForwardCases(ctx context.Context) (int, error) {
	if s.cfg.Hotline.URL == "" {
		return 0, nil
	}
	return s.outbox.RunOnce(ctx)
}

// FollowCases carries each forwarded request's case state (waiting in the
// outbox and why, stuck, open at the hotline with its notes and office,
// closed) into the request's post and the staff queue, once, for up to 500
// cases (the next ones after those the previous call followed). When a
// case closes the resident is asked to rate it. It returns how many posts
// changed.
//
// Errors: ctx's, storage errors, the hotline's failures (joined; the cases
// they concern stay as they were).
func (s *Service) FollowCases(ctx context.Context) (int, error) { return s.follower.RunOnce(ctx) }

// OutboxPending returns how many cases wait to be created at the hotline
// (counting at most 1,000), for metrics. Errors: storage errors.
func (s *Service) OutboxPending(ctx context.Context) (int, error) { return s.outbox.Pending(ctx) }

// OutboxStuck returns how many cases staff must look at (given up on, or
// failing for long; counting at most 1,000), for metrics. Errors: storage
// errors.
func (s *Service) OutboxStuck(ctx context.Context) (int, error) {
	st, err := s.outbox.Stuck(ctx)
	return len(st), err
}
