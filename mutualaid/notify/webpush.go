package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/SherClockHolmes/webpush-go"
)

// WebPushPayload is what a browser's service worker receives, decrypted:
// ids, a type and a count, nothing else.
type WebPushPayload struct {
	// ID is the notification's id, the same every time it is sent (and its
	// Web Push Topic, so a resent message replaces one not yet delivered).
	ID    string `json:"id"`
	Type  string `json:"type"`
	Count int    `json:"count"`
}

// WebPush sends notifications to browsers by Web Push: RFC 8030, with a
// VAPID (RFC 8292) signature and the payload encrypted for the
// subscription (RFC 8291, aes128gcm).
type WebPush struct {
	// VAPIDPublicKey and VAPIDPrivateKey are the server's key pair,
	// base64url (an uncompressed P-256 point; the private scalar).
	VAPIDPublicKey, VAPIDPrivateKey string
	// Subject is the operator's contact: "mailto:ops@example.org" or an
	// https URL.
	Subject string
	// TTLSeconds is how long the push service keeps an undelivered message.
	TTLSeconds int
	Client     *http.Client
}

// Send encrypts and posts n to p's subscription. It reports rejected if the
// subscription is gone (404, 410): the browser unsubscribed or it expired.
//
// Errors: *SendError (Permanent for a 4xx answer other than 401, 403, 408
// and 429: a VAPID key the push service refuses is the operator's to fix,
// and retried meanwhile), or a network error (retryable).
func (w *WebPush) Send(ctx context.Context, p Pusher, n Notification) (rejected bool, err error) {
	payload, err := json.Marshal(WebPushPayload{ID: n.ID, Type: n.Type, Count: n.Count})
	if err != nil {
		return false, &SendError{Permanent: true, Err: err}
	}
	urgency := webpush.UrgencyNormal
	if n.Critical || prio(n) == "high" {
		urgency = webpush.UrgencyHigh
	}
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := webpush.SendNotificationWithContext(ctx, payload,
		&webpush.Subscription{Endpoint: p.Pushkey, Keys: webpush.Keys{P256dh: p.P256dh, Auth: p.Auth}},
		&webpush.Options{
			HTTPClient: client, Subscriber: w.Subject, Topic: n.ID, TTL: w.TTLSeconds, Urgency: urgency,
			VAPIDPublicKey: w.VAPIDPublicKey, VAPIDPrivateKey: w.VAPIDPrivateKey,
		})
	if err != nil {
		if ctx.Err() != nil {
			return false, err
		}
		if res == nil {
			// Encryption or a malformed subscription fail before any request.
			if _, isNet := err.(interface{ Timeout() bool }); !isNet {
				return false, &SendError{Permanent: true, Err: fmt.Errorf("notify: web push: %w", err)}
			}
		}
		return false, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxGatewayAnswer))
	switch {
	case res.StatusCode/100 == 2:
		return false, nil
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusGone:
		return true, nil
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		se := statusError("web push service", res.StatusCode)
		se.Permanent = false
		return false, se
	}
	return false, statusError("web push service", res.StatusCode)
}
