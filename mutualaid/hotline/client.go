package hotline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// Client speaks GeoReport v2 to one endpoint. It is safe for concurrent use.
// Every method takes a ctx; deadlines come from ctx and from the http.Client.
type Client struct {
	base         *url.URL
	apiKey       string
	jurisdiction string
	hc           *http.Client
}

// NewClient returns a client for the GeoReport v2 endpoint at baseURL
// (e.g. "http://127.0.0.1:8311/open311/v2/"; a missing trailing slash is added).
// jurisdictionID may be empty for single-jurisdiction endpoints. A nil
// httpClient means http.DefaultClient.
func NewClient(baseURL, apiKey, jurisdictionID string, httpClient *http.Client) *Client {
	if !strings.HasSuffix(baseURL, "/") {
		baseURL += "/"
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		u = &url.URL{Opaque: baseURL} // requests will fail with a clear error
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: u, apiKey: apiKey, jurisdiction: jurisdictionID, hc: httpClient}
}

// Services lists the hotline's service codes (GET services.json).
//
// Errors: *APIError, *HTTPError, ErrMalformed, ErrTooLarge, transport errors.
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	body, err := c.do(ctx, http.MethodGet, "services.json", c.query(nil), nil)
	if err != nil {
		return nil, err
	}
	return DecodeServices(body)
}

// Create opens a case (POST requests.json, form-encoded). The result carries a
// service_request_id or a token to pass to ResolveToken.
//
// A description longer than MaxDescription is refused with
// *DescriptionTooLongError and a missing service code or description with
// ErrInvalid, before anything is sent. If the error IsRetryable the case may
// or may not have been created: look it up before posting again.
//
// Errors: *DescriptionTooLongError, ErrInvalid, *APIError, *HTTPError,
// ErrMalformed, ErrTooLarge, transport errors.
func (c *Client) Create(ctx context.Context, req CaseRequest) (CreateResult, error) {
	if n := utf8.RuneCountInString(req.Description); n > MaxDescription {
		return CreateResult{}, &DescriptionTooLongError{Len: n}
	}
	if strings.TrimSpace(req.ServiceCode) == "" {
		return CreateResult{}, fmt.Errorf("%w: service_code is required", ErrInvalid)
	}
	if strings.TrimSpace(req.Description) == "" {
		return CreateResult{}, fmt.Errorf("%w: description is required", ErrInvalid)
	}
	form := url.Values{}
	if c.apiKey != "" {
		form.Set("api_key", c.apiKey)
	}
	if c.jurisdiction != "" {
		form.Set("jurisdiction_id", c.jurisdiction)
	}
	form.Set("service_code", req.ServiceCode)
	if req.AddressString != "" {
		form.Set("address_string", req.AddressString)
	}
	form.Set("description", req.Description)
	if req.Phone != "" {
		form.Set("phone", req.Phone)
	}
	keys := make([]string, 0, len(req.Attributes))
	for k := range req.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		form.Set("attribute["+k+"]", req.Attributes[k])
	}
	body, err := c.do(ctx, http.MethodPost, "requests.json", nil, []byte(form.Encode()))
	if err != nil {
		return CreateResult{}, err
	}
	return DecodeCreate(body)
}

// ResolveToken returns the service_request_id a token was bound to
// (GET tokens/{token}.json).
//
// Errors: ErrPending (not bound yet: retry later), ErrInvalid, *APIError,
// *HTTPError, ErrMalformed, ErrTooLarge, transport errors.
func (c *Client) ResolveToken(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("%w: empty token", ErrInvalid)
	}
	body, err := c.do(ctx, http.MethodGet, "tokens/"+url.PathEscape(token)+".json", c.query(nil), nil)
	if err != nil {
		return "", err
	}
	return DecodeToken(body)
}

// Status returns the current state of the given cases
// (GET requests.json?service_request_id=a,b). Cases the server does not know
// are simply absent from the result.
//
// Errors: ErrInvalid (no ids), *APIError, *HTTPError, ErrMalformed,
// ErrTooLarge, transport errors.
func (c *Client) Status(ctx context.Context, ids ...string) ([]CaseStatus, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no service_request_id", ErrInvalid)
	}
	q := c.query(url.Values{"service_request_id": {strings.Join(ids, ",")}})
	body, err := c.do(ctx, http.MethodGet, "requests.json", q, nil)
	if err != nil {
		return nil, err
	}
	return DecodeStatuses(body)
}

// Search lists the cases matching q (GET requests.json with service_code,
// start_date, end_date and status; zero fields are left out, so the
// server's defaults apply: the last 90 days, every status). Dates are sent
// in RFC 3339, in UTC, to the second (Start rounded down, End up). A
// server returns at most MaxSearchResults cases per search: a result that
// long may be truncated, so narrow the dates and search again.
//
// Errors: ErrInvalid (a status other than open or closed, End before Start,
// or a range longer than MaxSearchSpan; nothing is sent), *APIError,
// *HTTPError, ErrMalformed, ErrTooLarge, transport errors.
func (c *Client) Search(ctx context.Context, q SearchQuery) ([]CaseStatus, error) {
	v, err := q.values()
	if err != nil {
		return nil, err
	}
	body, err := c.do(ctx, http.MethodGet, "requests.json", c.query(v), nil)
	if err != nil {
		return nil, err
	}
	return DecodeStatuses(body)
}

// Lookup returns one case (GET requests/{id}.json).
//
// Errors: ErrNotFound (empty array or HTTP 404; wraps the *APIError if any), ErrInvalid,
// *APIError, *HTTPError, ErrMalformed, ErrTooLarge, transport errors.
func (c *Client) Lookup(ctx context.Context, serviceRequestID string) (CaseStatus, error) {
	if serviceRequestID == "" {
		return CaseStatus{}, fmt.Errorf("%w: empty service_request_id", ErrInvalid)
	}
	body, err := c.do(ctx, http.MethodGet, "requests/"+url.PathEscape(serviceRequestID)+".json", c.query(nil), nil)
	if err != nil {
		var he *HTTPError
		var ae *APIError
		if (errors.As(err, &he) && he.StatusCode == http.StatusNotFound) ||
			(errors.As(err, &ae) && ae.HTTPStatus == http.StatusNotFound) {
			return CaseStatus{}, fmt.Errorf("%w: %s: %w", ErrNotFound, serviceRequestID, err)
		}
		return CaseStatus{}, err
	}
	cs, err := DecodeStatuses(body)
	if err != nil {
		return CaseStatus{}, err
	}
	if len(cs) == 0 {
		return CaseStatus{}, fmt.Errorf("%w: %s", ErrNotFound, serviceRequestID)
	}
	return cs[0], nil
}

func (c *Client) query(v url.Values) url.Values {
	if v == nil {
		v = url.Values{}
	}
	if c.jurisdiction != "" {
		v.Set("jurisdiction_id", c.jurisdiction)
	}
	return v
}

// do sends one request and returns the body of a 2xx answer, read up to
// MaxResponseBytes. Non-2xx answers become *APIError or *HTTPError.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, form []byte) ([]byte, error) {
	ref, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("%w: path %q: %v", ErrInvalid, path, err)
	}
	u := c.base.ResolveReference(ref)
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	var rd io.Reader
	if form != nil {
		rd = bytes.NewReader(form)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("hotline: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hotline: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("hotline: %s %s: reading body: %w", method, path, err)
	}
	if len(body) > MaxResponseBytes {
		return nil, fmt.Errorf("hotline: %s %s: %w (over %d bytes)", method, path, ErrTooLarge, MaxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if ae, ok := decodeError(resp.StatusCode, body); ok {
			return nil, ae
		}
		snippet := body
		if len(snippet) > 200 {
			snippet = snippet[:200]
		}
		return nil, &HTTPError{StatusCode: resp.StatusCode, Body: strings.ToValidUTF8(string(snippet), "?")}
	}
	return body, nil
}

// IsRetryable reports whether a later retry of the same call may succeed:
// network errors, timeouts, lost responses, HTTP 5xx and 429 are retryable;
// 4xx answers (with or without an error array), invalid requests and
// over-long descriptions are permanent. Malformed and oversized 2xx bodies
// count as retryable (the server may recover), so a caller must bound its
// retries. A cancelled ctx is not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var dl *DescriptionTooLongError
	if errors.As(err, &dl) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) {
		return false
	}
	if errors.Is(err, ErrPending) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
		return true
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return retryableStatus(ae.HTTPStatus)
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return retryableStatus(he.StatusCode)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// Everything else from the transport (EOF, connection reset, refused).
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}
