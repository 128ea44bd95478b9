package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// NotifyPath is the Matrix Push Gateway API's endpoint, which a gateway's
// base URL is completed with.
const NotifyPath = "/_matrix/push/v1/notify"

// GatewayRequest is the body of POST /_matrix/push/v1/notify as linli
// sends it (the Matrix Push Gateway API, event_id_only style: no content,
// no sender, no room).
type GatewayRequest struct {
	Notification GatewayNotification `json:"notification"`
}

// GatewayNotification is the notification of a GatewayRequest.
type GatewayNotification struct {
	// EventID is the notification's id, the same every time it is sent:
	// the gateway dedupes on it.
	EventID string `json:"event_id"`
	// Type is the event type (the Type* constants) of the most important
	// event it stands for.
	Type string `json:"type"`
	// Prio is "high" or "low".
	Prio   string        `json:"prio"`
	Counts GatewayCounts `json:"counts"`
	// Devices holds the one device it is for.
	Devices []GatewayDevice `json:"devices"`
}

// GatewayCounts carries how many events the notification stands for.
type GatewayCounts struct {
	Unread int `json:"unread"`
}

// GatewayDevice is a device as the Matrix Push Gateway API names one.
type GatewayDevice struct {
	AppID     string            `json:"app_id"`
	Pushkey   string            `json:"pushkey"`
	PushkeyTS int64             `json:"pushkey_ts,omitempty"`
	Data      map[string]string `json:"data,omitempty"`
}

// GatewayResponse is the gateway's answer: the push keys it rejected,
// whose pushers must be removed.
type GatewayResponse struct {
	Rejected []string `json:"rejected"`
}

// Gateway sends notifications to a push gateway speaking the Matrix Push
// Gateway API.
type Gateway struct {
	// URL is the gateway's base URL or its notify endpoint; NotifyPath is
	// added unless it ends with it.
	URL    string
	Client *http.Client
}

// maxGatewayAnswer bounds how much of an answer is read.
const maxGatewayAnswer = 64 << 10

// gatewayRequest builds the body for n to p.
func gatewayRequest(p Pusher, n Notification) GatewayRequest {
	return GatewayRequest{Notification: GatewayNotification{
		EventID: n.ID, Type: n.Type, Prio: prio(n), Counts: GatewayCounts{Unread: n.Count},
		Devices: []GatewayDevice{{
			AppID: p.AppID, Pushkey: p.Pushkey, PushkeyTS: p.Updated.Unix(),
			Data: map[string]string{"format": "event_id_only", "lang": p.Lang},
		}},
	}}
}

// prio is a notification's Matrix priority: low only for a case's
// progress, which can wait for the phone to wake.
func prio(n Notification) string {
	if n.Type == TypeCaseUpdate && !n.Critical {
		return "low"
	}
	return "high"
}

// Send posts n for p. It reports rejected if the gateway rejected p's
// push key.
//
// Errors: *SendError (Permanent for a 4xx answer other than 408 and 429),
// or a network error (retryable).
func (g *Gateway) Send(ctx context.Context, p Pusher, n Notification) (rejected bool, err error) {
	body, err := json.Marshal(gatewayRequest(p, n))
	if err != nil {
		return false, &SendError{Permanent: true, Err: err}
	}
	url := g.URL
	if !strings.HasSuffix(url, NotifyPath) {
		url = strings.TrimSuffix(url, "/") + NotifyPath
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, &SendError{Permanent: true, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	client := g.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	answer, rerr := io.ReadAll(io.LimitReader(res.Body, maxGatewayAnswer))
	if res.StatusCode/100 != 2 {
		return false, statusError("gateway", res.StatusCode)
	}
	if rerr != nil {
		// Delivered (2xx) but the rejections are unknown: the key will be
		// rejected again next time.
		return false, nil
	}
	var gr GatewayResponse
	if err := json.Unmarshal(answer, &gr); err != nil {
		return false, nil
	}
	return slices.Contains(gr.Rejected, p.Pushkey), nil
}

// SendError is a failed send with an answer.
type SendError struct {
	// Status is the HTTP status, if there was an answer.
	Status int
	// Permanent failures are not retried: the notification is dropped.
	Permanent bool
	Err       error
}

// Error returns the underlying error's text.
func (e *SendError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// statusError classifies a non-2xx answer: 408, 429 and 5xx are retried,
// other 4xx are permanent.
func statusError(who string, status int) *SendError {
	return &SendError{
		Status:    status,
		Permanent: status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests,
		Err:       fmt.Errorf("notify: %s answered HTTP %d", who, status),
	}
}

// permanent reports whether err is a permanent failure.
func permanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}
