package hotline

import (
	"context"
	"time"
)

// Unexported helpers, for the tests in package hotline_test.
var (
	DecodeError   = decodeError
	RefMarker     = refMarker
	WithReference = withReference
)

// SetAPIKey changes the api_key c sends.
func (c *Client) SetAPIKey(key string) { c.apiKey = key }

// SetJurisdiction changes the jurisdiction_id c sends.
func (c *Client) SetJurisdiction(id string) { c.jurisdiction = id }

// MarkPosting durably records that a POST for e is about to be sent.
func (o *Outbox) MarkPosting(ctx context.Context, e *OutboxEntry) error { return o.markPosting(ctx, e) }

// Backoff is the delay before the next attempt after attempts failures.
func (o *Outbox) Backoff(attempts int) time.Duration {
	return o.backoff(attempts)
}

// CaseRequest is the case r stores.
func (r OutboxRecord) CaseRequest() CaseRequest { return r.caseRequest() }
