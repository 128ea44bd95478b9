package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// Refusals connect-go makes itself, before a handler runs (a body it cannot
// decode or that is too large, an unknown content type or compression, a
// bad GET, a bad timeout header, a method or procedure it does not serve),
// carry no linli.v1.ErrorDetail. explainRefusals gives each one, so that
// every error the server sends has a machine-readable reason, in whatever
// protocol the client speaks (Connect, gRPC, gRPC-Web; plain JSON for an
// unknown one).
//
// It holds back what the handler writes until it knows whether the answer
// is such a refusal: a unary answer until its status is known (a success
// passes at once), a stream until its first message (a message passes at
// once; only an error ending a stream before any message is held). Errors
// our handlers raise already carry a detail and pass unchanged.
//
// Reasons added (the code is kept, except that a message over the limit
// becomes INVALID_ARGUMENT instead of RESOURCE_EXHAUSTED, which apps retry):
//
//	message_too_large         INVALID_ARGUMENT  with max_message_bytes
//	message_malformed         INVALID_ARGUMENT  undecodable body (bad protobuf or
//	                                            JSON, invalid UTF-8, two members
//	                                            of one oneof, bad GET message,
//	                                            corrupt gzip)
//	content_type_unsupported  INVALID_ARGUMENT  (HTTP 415 kept for unknown protocols)
//	encoding_unsupported      UNIMPLEMENTED     compression other than gzip/identity
//	timeout_invalid           INVALID_ARGUMENT  bad Connect-Timeout-Ms or grpc-timeout
//	method_not_allowed        UNIMPLEMENTED     (HTTP 405 kept for unknown protocols)
//	procedure_unknown         UNIMPLEMENTED     no such procedure
//	protocol_error            the code given    anything else connect-go refused
//
// A body cut short inside an envelope (connect-go's INTERNAL "protocol
// error") is message_malformed, INVALID_ARGUMENT.
func explainRefusals(limits func(*http.Request) int) func(http.Handler) http.Handler {
	ew := connect.NewErrorWriter()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := &refusalWriter{ResponseWriter: w, r: r, kind: wireKindOf(r), ew: ew, limit: limits(r)}
			// gRPC carries errors in trailers, which can be changed until
			// the handler returns: nothing needs holding back.
			rw.passing = rw.kind == wireGRPC
			next.ServeHTTP(rw, r)
			rw.finish()
		})
	}
}

// wireKind is how a protocol carries errors.
type wireKind int

const (
	wireUnary   wireKind = iota // Connect unary: HTTP status and a JSON body
	wireStream                  // Connect streaming: an end-stream message
	wireGRPC                    // gRPC: trailers
	wireGRPCWeb                 // gRPC-Web: headers (trailers-only) or a trailer message
)

func wireKindOf(r *http.Request) wireKind {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	switch {
	case r.Method != http.MethodPost:
		return wireUnary
	case strings.HasPrefix(ct, "application/grpc-web"):
		return wireGRPCWeb
	case strings.HasPrefix(ct, "application/grpc"):
		return wireGRPC
	case strings.HasPrefix(ct, "application/connect+"):
		return wireStream
	}
	return wireUnary
}

// refusalWriter holds back an answer until it knows whether it is a
// refusal without a detail.
type refusalWriter struct {
	http.ResponseWriter
	r     *http.Request
	kind  wireKind
	ew    *connect.ErrorWriter
	limit int

	passing bool // decided: everything goes straight through
	status  int  // held status, 0 if none yet
	held    bytes.Buffer
}

func (w *refusalWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *refusalWriter) WriteHeader(code int) {
	if w.passing {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.status == 0 {
		w.status = code
	}
	if w.kind == wireUnary && code == http.StatusOK {
		w.pass()
	}
}

func (w *refusalWriter) Write(p []byte) (int, error) {
	if w.passing {
		return w.ResponseWriter.Write(p)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	switch w.kind {
	case wireUnary:
		if w.status == http.StatusOK {
			w.pass()
			return w.ResponseWriter.Write(p)
		}
	default:
		if w.held.Len() < 5 && w.held.Len()+len(p) >= 5 {
			var prefix [5]byte
			n := copy(prefix[:], w.held.Bytes())
			copy(prefix[n:], p)
			if !endsStream(w.kind, prefix[0]) {
				w.pass()
				return w.ResponseWriter.Write(p)
			}
		}
	}
	if w.held.Len() > 1<<20 { // not a refusal of ours: stop holding
		w.pass()
		return w.ResponseWriter.Write(p)
	}
	return w.held.Write(p)
}

// endsStream reports whether an envelope with flags is the one that ends a
// stream (Connect end-stream, gRPC-Web trailers) rather than a message.
func endsStream(kind wireKind, flags byte) bool {
	switch kind {
	case wireStream:
		return flags&0x02 != 0
	case wireGRPCWeb:
		return flags&0x80 != 0
	}
	return false
}

func (w *refusalWriter) Flush() {
	if w.passing {
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// pass sends what was held and lets the rest through.
func (w *refusalWriter) pass() {
	if w.passing {
		return
	}
	w.passing = true
	if w.status != 0 {
		w.ResponseWriter.WriteHeader(w.status)
	}
	if w.held.Len() > 0 {
		_, _ = w.ResponseWriter.Write(w.held.Bytes())
		w.held.Reset()
	}
}

// finish sends the held answer, with a detail if it is a refusal without one.
func (w *refusalWriter) finish() {
	if w.kind == wireGRPC {
		w.explainTrailers()
		return
	}
	if w.passing {
		return
	}
	if code, msg, ok := w.refusal(); ok {
		w.rewrite(code, msg)
		return
	}
	w.pass()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// refusal decodes the held answer: ok is true for an error without a
// linli.v1.ErrorDetail, which code and msg then describe.
func (w *refusalWriter) refusal() (code connect.Code, msg string, ok bool) {
	h := w.Header()
	switch w.kind {
	case wireGRPC, wireGRPCWeb:
		if st := firstOf(h, "Grpc-Status", http.TrailerPrefix+"Grpc-Status"); st != "" {
			if st == "0" || firstOf(h, "Grpc-Status-Details-Bin", http.TrailerPrefix+"Grpc-Status-Details-Bin") != "" {
				return 0, "", false
			}
			n, _ := strconv.Atoi(st)
			m, _ := url.PathUnescape(firstOf(h, "Grpc-Message", http.TrailerPrefix+"Grpc-Message"))
			return connect.Code(n), m, true
		}
		if w.kind == wireGRPCWeb && w.held.Len() > 5 {
			tr, err := http.ReadResponse(bufioFrom("HTTP/1.0 200 OK\r\n"+string(w.held.Bytes()[5:])+"\r\n"), nil)
			if err == nil {
				_ = tr.Body.Close()
				st := tr.Header.Get("Grpc-Status")
				if st != "" && st != "0" && tr.Header.Get("Grpc-Status-Details-Bin") == "" {
					n, _ := strconv.Atoi(st)
					m, _ := url.PathUnescape(tr.Header.Get("Grpc-Message"))
					return connect.Code(n), m, true
				}
			}
			return 0, "", false
		}
	case wireStream:
		if w.held.Len() > 5 {
			var end struct {
				Error *wireError `json:"error"`
			}
			size := binary.BigEndian.Uint32(w.held.Bytes()[1:5])
			body := w.held.Bytes()[5:]
			if int(size) == len(body) && json.Unmarshal(body, &end) == nil && end.Error != nil && !end.Error.explained() {
				return end.Error.connectCode(), end.Error.Message, true
			}
			return 0, "", false
		}
	case wireUnary:
		if strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			var e wireError
			if json.Unmarshal(w.held.Bytes(), &e) == nil && e.Code != "" {
				if e.explained() {
					return 0, "", false
				}
				return e.connectCode(), e.Message, true
			}
		}
	}
	// No error in the protocol: connect-go's bare HTTP refusals.
	switch w.status {
	case http.StatusUnsupportedMediaType:
		return connect.CodeInvalidArgument, "unsupported content type: send application/json or application/proto (Connect), application/grpc or application/grpc-web", true
	case http.StatusMethodNotAllowed:
		return connect.CodeUnimplemented, "method not allowed: use POST (or GET for procedures without side effects)", true
	case http.StatusNotFound:
		if strings.Count(w.r.URL.Path, "/") == 2 && strings.Contains(w.r.URL.Path, ".") {
			return connect.CodeUnimplemented, "no such procedure", true
		}
	}
	return 0, "", false
}

// wireError is a Connect error as JSON.
type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type string `json:"type"`
	} `json:"details"`
}

func (e *wireError) explained() bool {
	for _, d := range e.Details {
		if d.Type == "linli.v1.ErrorDetail" {
			return true
		}
	}
	return false
}

func (e *wireError) connectCode() connect.Code {
	var c connect.Code
	if err := c.UnmarshalText([]byte(e.Code)); err != nil {
		return connect.CodeUnknown
	}
	return c
}

// rewrite answers with a refusal that carries a detail.
func (w *refusalWriter) rewrite(code connect.Code, msg string) {
	code, reason, msg := explainRefusal(code, msg, w.status)
	detail := &linliv1.ErrorDetail{Reason: reason}
	if reason == "message_too_large" {
		detail.MaxMessageBytes = uint64(w.limit)
		msg = tooLargeMessage(w.limit)
	}
	h := w.Header()
	for k := range h {
		if strings.HasPrefix(k, "Grpc-") || strings.HasPrefix(k, http.TrailerPrefix) || k == "Trailer" || k == "Content-Length" || k == "Content-Encoding" || k == "Content-Type" {
			delete(h, k)
		}
	}
	err := newError(code, msg, detail)
	if !w.ew.IsSupported(w.r) && w.status >= 400 {
		// An unknown protocol: Connect JSON (what curl users and Connect
		// clients read), keeping connect-go's HTTP status (405, 415).
		_ = w.ew.Write(statusWriter{w.ResponseWriter, w.status}, w.r, err)
		return
	}
	_ = w.ew.Write(w.ResponseWriter, w.r, err)
}

// explainRefusal picks the code, reason and message of a refusal
// connect-go made without a detail.
func explainRefusal(code connect.Code, msg string, status int) (connect.Code, string, string) {
	lower := strings.ToLower(msg)
	switch {
	case code == connect.CodeResourceExhausted && (strings.Contains(lower, "larger than") || strings.Contains(lower, "too large")):
		return connect.CodeInvalidArgument, "message_too_large", msg
	case strings.Contains(lower, "compression"):
		return code, "encoding_unsupported", msg
	case strings.Contains(lower, "timeout"):
		return code, "timeout_invalid", msg
	case status == http.StatusUnsupportedMediaType:
		return code, "content_type_unsupported", msg
	case status == http.StatusMethodNotAllowed:
		return code, "method_not_allowed", msg
	case status == http.StatusNotFound && code == connect.CodeUnimplemented:
		return code, "procedure_unknown", msg
	case strings.Contains(lower, "incomplete envelope") || strings.Contains(lower, "promised"):
		// A body cut short inside a message: malformed, whatever connect-go
		// calls it.
		return connect.CodeInvalidArgument, "message_malformed", msg
	case code == connect.CodeInvalidArgument && (strings.Contains(lower, "unmarshal") || strings.Contains(lower, "decompress") ||
		strings.Contains(lower, "base64") || strings.Contains(lower, "message") || strings.Contains(lower, "gzip")):
		return code, "message_malformed", msg
	case code == connect.CodeInvalidArgument:
		return code, "message_malformed", msg
	case code == connect.CodeUnimplemented:
		return code, "procedure_unknown", msg
	}
	return code, "protocol_error", msg
}

// statusWriter writes status whatever status it is asked for.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s statusWriter) WriteHeader(int) { s.ResponseWriter.WriteHeader(s.status) }

func firstOf(h http.Header, keys ...string) string {
	for _, k := range keys {
		if v := h.Get(k); v != "" {
			return v
		}
		if vs := h[k]; len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

func bufioFrom(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// explainTrailers adds a detail to a gRPC error in the trailers that has
// none (grpc-status-details-bin holds a google.rpc.Status).
func (w *refusalWriter) explainTrailers() {
	h := w.Header()
	key := func(k string) string {
		if _, ok := h[http.TrailerPrefix+k]; ok {
			return http.TrailerPrefix + k
		}
		return k
	}
	st := firstOf(h, http.TrailerPrefix+"Grpc-Status", "Grpc-Status")
	if st == "" || st == "0" || firstOf(h, http.TrailerPrefix+"Grpc-Status-Details-Bin", "Grpc-Status-Details-Bin") != "" {
		return
	}
	n, _ := strconv.Atoi(st)
	m, _ := url.PathUnescape(firstOf(h, http.TrailerPrefix+"Grpc-Message", "Grpc-Message"))
	code, reason, msg := explainRefusal(connect.Code(n), m, w.status)
	detail := &linliv1.ErrorDetail{Reason: reason}
	if reason == "message_too_large" {
		detail.MaxMessageBytes = uint64(w.limit)
		msg = tooLargeMessage(w.limit)
	}
	value, err := proto.Marshal(detail)
	if err != nil {
		return
	}
	anyMsg := protowire.AppendTag(nil, 1, protowire.BytesType)
	anyMsg = protowire.AppendString(anyMsg, "type.googleapis.com/linli.v1.ErrorDetail")
	anyMsg = protowire.AppendTag(anyMsg, 2, protowire.BytesType)
	anyMsg = protowire.AppendBytes(anyMsg, value)
	status := protowire.AppendTag(nil, 1, protowire.VarintType)
	status = protowire.AppendVarint(status, uint64(code))
	status = protowire.AppendTag(status, 2, protowire.BytesType)
	status = protowire.AppendString(status, msg)
	status = protowire.AppendTag(status, 3, protowire.BytesType)
	status = protowire.AppendBytes(status, anyMsg)
	h.Set(key("Grpc-Status"), strconv.Itoa(int(code)))
	h.Set(key("Grpc-Message"), url.PathEscape(msg))
	h[http.TrailerPrefix+"Grpc-Status-Details-Bin"] = []string{connect.EncodeBinaryHeader(status)}
}

func tooLargeMessage(limit int) string {
	return "the request is larger than this call takes (" + strconv.Itoa(limit) + " bytes): split it (send fewer mutations per push)"
}
