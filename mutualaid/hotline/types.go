// Package hotline speaks Open311 GeoReport v2 to a city hotline (such as
// Beijing's 12345): a Client that creates cases and follows their status,
// and an Outbox that forwards each case exactly once. A hotline to talk to
// in demos and tests is package internal/hotlinesim.
//
// Wire format: every response is JSON. Successful responses are arrays of
// objects; failures are arrays of {"code", "description"} objects, decoded as
// *APIError. Response bodies are read up to MaxResponseBytes.
package hotline

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// MaxDescription is the longest description GeoReport v2 accepts, in characters.
const MaxDescription = 4000

// MaxResponseBytes caps how much of a response body the client reads.
const MaxResponseBytes = 1 << 20

// Case statuses defined by GeoReport v2.
const (
	StatusOpen   = "open"
	StatusClosed = "closed"
)

// Service is one entry of services.json.
type Service struct {
	ServiceCode string `json:"service_code"`
	ServiceName string `json:"service_name"`
	Description string `json:"description,omitempty"`
	Metadata    bool   `json:"metadata"`
	Type        string `json:"type"` // realtime, batch or blackbox
	Keywords    string `json:"keywords,omitempty"`
	Group       string `json:"group,omitempty"`
}

// CaseRequest is what POST requests.json sends.
//
// REQUIRES: ServiceCode and Description non-empty; Description at most
// MaxDescription characters.
type CaseRequest struct {
	ServiceCode   string
	AddressString string
	Description   string
	// Phone is the requester's number (GeoReport's phone field); empty
	// sends none.
	Phone string
	// Attributes become attribute[KEY]=VALUE form fields, e.g.
	// "linli_post_id" → attribute[linli_post_id].
	Attributes map[string]string
}

// CreateResult is the answer to POST requests.json: either ServiceRequestID
// or Token (to resolve later with ResolveToken) is set, possibly both.
type CreateResult struct {
	ServiceRequestID string `json:"service_request_id,omitempty"`
	Token            string `json:"token,omitempty"`
	ServiceNotice    string `json:"service_notice,omitempty"`
	AccountID        string `json:"account_id,omitempty"`
}

// CaseStatus is one entry of GET requests.json or requests/{id}.json.
// Datetimes are kept as the server sent them (W3C / RFC 3339).
type CaseStatus struct {
	ServiceRequestID  string `json:"service_request_id"`
	Status            string `json:"status"`
	StatusNotes       string `json:"status_notes,omitempty"`
	ServiceName       string `json:"service_name,omitempty"`
	ServiceCode       string `json:"service_code,omitempty"`
	Description       string `json:"description,omitempty"`
	AgencyResponsible string `json:"agency_responsible,omitempty"`
	ServiceNotice     string `json:"service_notice,omitempty"`
	RequestedDatetime string `json:"requested_datetime,omitempty"`
	UpdatedDatetime   string `json:"updated_datetime,omitempty"`
	ExpectedDatetime  string `json:"expected_datetime,omitempty"`
	Address           string `json:"address,omitempty"`
}

// MaxSearchResults is the most cases a GeoReport v2 server returns for one
// search (GET requests.json without service_request_id). A search that
// returns this many may have left some out.
const MaxSearchResults = 1000

// MaxSearchSpan is the longest date range one search may cover.
const MaxSearchSpan = 90 * 24 * time.Hour

// SearchQuery selects cases for Client.Search. Zero fields are not sent.
type SearchQuery struct {
	ServiceCode string    // one code, or several separated by commas
	Start, End  time.Time // requested_datetime range, both inclusive
	Status      string    // StatusOpen, StatusClosed, both comma-separated, or empty for all
}

// values encodes q as GeoReport v2 query parameters.
func (q SearchQuery) values() (url.Values, error) {
	v := url.Values{}
	if q.ServiceCode != "" {
		v.Set("service_code", q.ServiceCode)
	}
	if q.Status != "" {
		for st := range strings.SplitSeq(q.Status, ",") {
			if st != StatusOpen && st != StatusClosed {
				return nil, fmt.Errorf("%w: status %q: want open or closed", ErrInvalid, st)
			}
		}
		v.Set("status", q.Status)
	}
	if !q.Start.IsZero() && !q.End.IsZero() {
		if q.End.Before(q.Start) {
			return nil, fmt.Errorf("%w: end %v before start %v", ErrInvalid, q.End, q.Start)
		}
		if q.End.Sub(q.Start) > MaxSearchSpan {
			return nil, fmt.Errorf("%w: %v to %v spans more than %v", ErrInvalid, q.Start, q.End, MaxSearchSpan)
		}
	}
	if !q.Start.IsZero() {
		v.Set("start_date", q.Start.UTC().Format(time.RFC3339))
	}
	if !q.End.IsZero() {
		end := q.End.UTC()
		if t := end.Truncate(time.Second); t.Before(end) {
			end = t.Add(time.Second) // the range stays inclusive of End
		}
		v.Set("end_date", end.Format(time.RFC3339))
	}
	return v, nil
}

// APIError is a GeoReport v2 error array returned by the server, with the
// HTTP status it came with. It is permanent unless the HTTP status is 5xx or 429.
type APIError struct {
	HTTPStatus int
	Errors     []APIErrorItem
}

// APIErrorItem is one {"code", "description"} element of an error array.
type APIErrorItem struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

func (e *APIError) Error() string {
	parts := make([]string, 0, len(e.Errors))
	for _, it := range e.Errors {
		parts = append(parts, fmt.Sprintf("%d %s", it.Code, it.Description))
	}
	return fmt.Sprintf("hotline: HTTP %d: %s", e.HTTPStatus, strings.Join(parts, "; "))
}

// DescriptionTooLongError refuses a description longer than MaxDescription
// before anything is sent.
type DescriptionTooLongError struct{ Len int }

func (e *DescriptionTooLongError) Error() string {
	return fmt.Sprintf("hotline: description is %d characters, the limit is %d", e.Len, MaxDescription)
}

// Sentinel errors.
var (
	// ErrMalformed wraps every response the client cannot decode: bad JSON,
	// wrong types, missing required fields, empty arrays.
	ErrMalformed = errors.New("hotline: malformed response")
	// ErrTooLarge means a response body exceeded MaxResponseBytes.
	ErrTooLarge = errors.New("hotline: response body too large")
	// ErrInvalid means the caller's request was invalid; nothing was sent.
	ErrInvalid = errors.New("hotline: invalid request")
	// ErrNotFound means the server answered a lookup with no case.
	ErrNotFound = errors.New("hotline: case not found")
	// ErrPending means a token is not yet bound to a service_request_id.
	ErrPending = errors.New("hotline: token not yet resolved")
)

// HTTPError is a non-2xx answer whose body was not a GeoReport error array.
type HTTPError struct {
	StatusCode int
	Body       string // at most 200 bytes, for logs
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("hotline: HTTP %d: %s", e.StatusCode, e.Body)
}

// decodeArray decodes a JSON array of T, refusing anything else.
func decodeArray[T any](body []byte) ([]T, error) {
	var out []T
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if out == nil {
		return nil, fmt.Errorf("%w: null instead of an array", ErrMalformed)
	}
	return out, nil
}

// DecodeServices decodes a services.json body.
func DecodeServices(body []byte) ([]Service, error) {
	ss, err := decodeArray[Service](body)
	if err != nil {
		return nil, err
	}
	for i, s := range ss {
		if s.ServiceCode == "" {
			return nil, fmt.Errorf("%w: service %d has no service_code", ErrMalformed, i)
		}
	}
	return ss, nil
}

// DecodeCreate decodes the answer to POST requests.json. It requires a
// non-empty array whose first element has a service_request_id or a token.
func DecodeCreate(body []byte) (CreateResult, error) {
	rs, err := decodeArray[CreateResult](body)
	if err != nil {
		return CreateResult{}, err
	}
	if len(rs) == 0 {
		return CreateResult{}, fmt.Errorf("%w: empty array", ErrMalformed)
	}
	r := rs[0]
	if r.ServiceRequestID == "" && r.Token == "" {
		return CreateResult{}, fmt.Errorf("%w: neither service_request_id nor token", ErrMalformed)
	}
	return r, nil
}

// DecodeToken decodes tokens/{token}.json. It returns ErrPending when the
// token is known but not yet bound to a service_request_id.
func DecodeToken(body []byte) (string, error) {
	type tok struct {
		ServiceRequestID string `json:"service_request_id"`
		Token            string `json:"token"`
	}
	rs, err := decodeArray[tok](body)
	if err != nil {
		return "", err
	}
	if len(rs) == 0 {
		return "", fmt.Errorf("%w: empty array", ErrMalformed)
	}
	if rs[0].ServiceRequestID == "" {
		return "", ErrPending
	}
	return rs[0].ServiceRequestID, nil
}

// DecodeStatuses decodes GET requests.json or requests/{id}.json. Every
// element needs a service_request_id and a status of open or closed.
func DecodeStatuses(body []byte) ([]CaseStatus, error) {
	cs, err := decodeArray[CaseStatus](body)
	if err != nil {
		return nil, err
	}
	for i, c := range cs {
		if c.ServiceRequestID == "" {
			return nil, fmt.Errorf("%w: case %d has no service_request_id", ErrMalformed, i)
		}
		if c.Status != StatusOpen && c.Status != StatusClosed {
			return nil, fmt.Errorf("%w: case %s has status %q", ErrMalformed, c.ServiceRequestID, c.Status)
		}
	}
	return cs, nil
}

// decodeError decodes an error array; ok is false if body is not one.
func decodeError(status int, body []byte) (*APIError, bool) {
	var items []APIErrorItem
	if err := json.Unmarshal(body, &items); err != nil || len(items) == 0 {
		return nil, false
	}
	for _, it := range items {
		if it.Code == 0 && it.Description == "" {
			return nil, false
		}
	}
	return &APIError{HTTPStatus: status, Errors: items}, true
}
