package console

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// The queue is live through Server-Sent Events: GET .../live streams
//
//	event: change   the community's staff scope moved (data: its head);
//	                the page fetches its queue list again
//	event: beat     every Heartbeat, after the member was checked again
//	event: signedout the session ended or the member is no longer staff of
//	                the community: the page reloads (and so signs in again)
//
// Changes are coalesced (the subscription keeps only the latest head) and
// sent at most every minChangeGap. The page's script marks itself out of
// date when no beat arrives for two heartbeats and offline when the stream
// fails; EventSource reconnects by itself. Without script the page reloads
// every 30 s.

// minChangeGap spaces change events during a surge.
const minChangeGap = 500 * time.Millisecond

// live streams the community's changes to the queue page.
func (c *Console) live(w http.ResponseWriter, r *http.Request, p *page) {
	rc := http.NewResponseController(w)
	sub, err := c.svc.Subscribe([]string{mutualaid.StaffScope(p.Community.GetId())})
	if err != nil {
		c.internal(w, r, p, err)
		return
	}
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(event, data string) bool {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	beat := time.NewTicker(c.cfg.Heartbeat)
	defer beat.Stop()
	if _, err := fmt.Fprintf(w, "retry: 3000\n\n"); err != nil {
		return
	}
	if !send("beat", fmt.Sprint(c.cfg.Heartbeat.Milliseconds())) {
		return
	}
	sub.Take() // the current heads: the page was rendered after them
	var last time.Time
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.cfg.Stopping:
			return
		case <-beat.C:
			if !c.stillStaff(r, p) {
				send("signedout", "")
				return
			}
			if !send("beat", fmt.Sprint(c.cfg.Heartbeat.Milliseconds())) {
				return
			}
		case <-sub.Ready():
			heads, open := sub.Take()
			if !open {
				return
			}
			if len(heads) == 0 {
				continue
			}
			if wait := minChangeGap - time.Since(last); wait > 0 {
				select {
				case <-time.After(wait):
				case <-r.Context().Done():
					return
				}
			}
			last = time.Now()
			var head uint64
			for _, v := range heads {
				head = max(head, v)
			}
			if !send("change", fmt.Sprint(head)) {
				return
			}
		}
	}
}

// stillStaff checks again, as every request does, that the live stream's
// member may still see the community.
func (c *Console) stillStaff(r *http.Request, p *page) bool {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	_, m, err := c.session(r, ck.Value)
	if err != nil {
		return false
	}
	cs, err := c.svc.StaffCommunities(mutualaid.MemberOf(m))
	return err == nil && slices.ContainsFunc(cs, func(x *linliv1.Community) bool { return x.GetId() == p.Community.GetId() })
}
