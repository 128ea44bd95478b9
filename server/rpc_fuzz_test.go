package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/server"
)

// rpcProcedure is one procedure of one of linli's services.
type rpcProcedure struct {
	path      string // "/linli.v1.SyncService/Push"
	input     protoreflect.MessageDescriptor
	streaming bool // a server stream: Connect's streaming protocol
	get       bool // NO_SIDE_EFFECTS: Connect also serves it by GET
}

// linliProcedures lists every procedure of every service in package
// linli.v1, as the generated code registered them (a service added later
// is fuzzed without changing the test).
func linliProcedures(tb testing.TB) []rpcProcedure {
	tb.Helper()
	var out []rpcProcedure
	protoregistry.GlobalFiles.RangeFilesByPackage("linli.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				opts, _ := md.Options().(*descriptorpb.MethodOptions)
				out = append(out, rpcProcedure{
					path:      "/" + string(sd.FullName()) + "/" + string(md.Name()),
					input:     md.Input(),
					streaming: md.IsStreamingServer(),
					get:       opts.GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS,
				})
			}
		}
		return true
	})
	if len(out) < 20 {
		tb.Fatalf("found %d procedures in linli.v1, want every one of its services' (at least 20)", len(out))
	}
	return out
}

// minimalRequest is the procedure's request with protocol_version 1, in
// protobuf and in JSON.
func minimalRequest(tb testing.TB, p rpcProcedure) (pb, js []byte) {
	tb.Helper()
	m := dynamicpb.NewMessage(p.input)
	if fd := p.input.Fields().ByName("protocol_version"); fd != nil {
		switch fd.Kind() {
		case protoreflect.Uint32Kind:
			m.Set(fd, protoreflect.ValueOfUint32(1))
		case protoreflect.Int32Kind:
			m.Set(fd, protoreflect.ValueOfInt32(1))
		}
	}
	pb, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	js, err = protojson.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return pb, js
}

// Wire forms FuzzRPC sends, from its form byte.
const (
	formProto    = 1 << 0 // protobuf instead of JSON
	formGET      = 1 << 1 // unary: a Connect GET with the message in the query (if the procedure allows it)
	formRaw      = 1 << 2 // stream: the body as it is, without an envelope
	formGzip     = 1 << 3 // the body (or the envelope's message) declared gzip, sent as it is
	formNoToken  = 1 << 4 // no Authorization header
	formResident = 1 << 5 // a resident's token instead of an admin's
)

// FuzzRPC sends arbitrary bytes to every procedure of every linli service
// (Connect unary in JSON and protobuf, by POST and GET; Subscribe in
// Connect's streaming protocol, enveloped or not) through a real server
// with a valid token, an admin's or a resident's, and checks the answer:
// no 5xx except those the protocol documents (UNIMPLEMENTED for an unknown
// procedure or compression, UNAVAILABLE), every error carries a
// linli.v1.ErrorDetail with a reason, and the server answers /healthz
// afterwards.
func FuzzRPC(f *testing.F) {
	procs := linliProcedures(f)
	h := linlitest.NewServer(f, server.Config{
		Logger:     slog.New(slog.NewTextHandler(f.Output(), &slog.HandlerOptions{Level: slog.LevelError})),
		RateLimits: server.RateLimits{Join: server.Limit{Rate: -1}, Refresh: server.Limit{Rate: -1}, Push: server.Limit{Rate: -1}},
	})
	admin := h.Token(f, "fuzz-admin", "c1", mutualaid.RoleAdmin)
	resident := h.Token(f, "fuzz-resident", "c1", mutualaid.RoleResident)

	for i, p := range procs {
		pb, js := minimalRequest(f, p)
		f.Add(uint16(i), uint8(0), js)
		f.Add(uint16(i), uint8(formProto), pb)
		f.Add(uint16(i), uint8(formResident), js)
		f.Add(uint16(i), uint8(formNoToken|formProto), pb)
		f.Add(uint16(i), uint8(formGzip), js)
		if p.get {
			f.Add(uint16(i), uint8(formGET), js)
		}
		if p.streaming {
			f.Add(uint16(i), uint8(formRaw), js)
		}
		f.Add(uint16(i), uint8(0), []byte(`{"protocolVersion":99}`))
		f.Add(uint16(i), uint8(formProto), []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12})
	}
	push := -1
	for i, p := range procs {
		if p.path == "/linli.v1.SyncService/Push" {
			push = i
		}
	}
	if push < 0 {
		f.Fatal("no SyncService/Push among the procedures")
	}
	f.Add(uint16(push), uint8(formResident), []byte(`{"protocolVersion":1,"clientId":"fuzz","mutations":[{"id":"1","postOffer":{"postId":"p1","draft":{"items":[{"itemCode":"antigen-test","name":"抗原","quantity":5,"unit":"kit"}],"buildingId":"b3","displayName":"李雷"}}}]}`))
	f.Add(uint16(push), uint8(formResident), []byte(`{"protocolVersion":1,"clientId":"fuzz","mutations":[{"id":"7","cancelPost":{"postId":"p1"}}]}`))
	f.Add(uint16(push), uint8(0), []byte(`{"protocolVersion":1,"clientId":"fuzz","mutations":[{"id":"1","postOffer":{},"cancelPost":{}}]}`))

	f.Fuzz(func(t *testing.T, which uint16, form uint8, body []byte) {
		p := procs[int(which)%len(procs)]
		tok := admin
		if form&formResident != 0 {
			tok = resident
		}
		if form&formNoToken != 0 {
			tok = ""
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		req := rpcRequest(ctx, t, h.URL, p, form, tok, body)
		res, err := h.HTTP.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", p.path, err)
		}
		defer res.Body.Close()
		if p.streaming && res.StatusCode == http.StatusOK && strings.HasPrefix(res.Header.Get("Content-Type"), "application/connect+") {
			checkFirstFrame(t, p.path, res.Body)
		} else {
			checkUnary(t, p.path, res)
		}
		cancel()
		res.Body.Close()

		// The server still answers, and the members can still call it.
		hres, err := h.HTTP.Get(h.URL + "/healthz")
		if err != nil {
			t.Fatalf("healthz after %s: %v", p.path, err)
		}
		hres.Body.Close()
		if hres.StatusCode != http.StatusOK {
			t.Fatalf("healthz after %s: %d", p.path, hres.StatusCode)
		}
		if res.StatusCode == http.StatusOK && (strings.HasSuffix(p.path, "/RemoveMember") || strings.HasSuffix(p.path, "/SetRole") || strings.HasSuffix(p.path, "/SignOut")) {
			admin = h.Token(t, "fuzz-admin", "c1", mutualaid.RoleAdmin)
			resident = h.Token(t, "fuzz-resident", "c1", mutualaid.RoleResident)
		}
	})
}

// rpcRequest is the HTTP request FuzzRPC sends to p.
func rpcRequest(ctx context.Context, t *testing.T, base string, p rpcProcedure, form uint8, tok string, body []byte) *http.Request {
	t.Helper()
	codec := "json"
	if form&formProto != 0 {
		codec = "proto"
	}
	var req *http.Request
	var err error
	switch {
	case p.streaming:
		payload := body
		if form&formRaw == 0 {
			payload = make([]byte, 5+len(body))
			if form&formGzip != 0 {
				payload[0] = 1 // compressed
			}
			binary.BigEndian.PutUint32(payload[1:5], uint32(len(body)))
			copy(payload[5:], body)
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+p.path, bytes.NewReader(payload))
		if err == nil {
			req.Header.Set("Content-Type", "application/connect+"+codec)
			req.Header.Set("Connect-Protocol-Version", "1")
			if form&formGzip != 0 {
				req.Header.Set("Connect-Content-Encoding", "gzip")
			}
		}
	case form&formGET != 0 && p.get:
		q := url.Values{"connect": {"v1"}, "encoding": {codec}, "message": {base64.RawURLEncoding.EncodeToString(body)}, "base64": {"1"}}
		if form&formGzip != 0 {
			q.Set("compression", "gzip")
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+p.path+"?"+q.Encode(), nil)
	default:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+p.path, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/"+codec)
			req.Header.Set("Connect-Protocol-Version", "1")
			if form&formGzip != 0 {
				req.Header.Set("Content-Encoding", "gzip")
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req
}

// connectError is a Connect error as JSON: a unary answer's body, or an
// end-stream message's "error".
type connectError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"details"`
}

// documented5xx are the HTTP statuses of 5xx that linli's protocol documents
// for a healthy server: UNIMPLEMENTED (an unknown procedure or compression,
// a GET of a procedure with side effects) and UNAVAILABLE (disk_full,
// shutting_down). INTERNAL, DATA_LOSS and anything else are bugs here.
var documented5xx = map[int]bool{http.StatusNotImplemented: true, http.StatusServiceUnavailable: true}

// checkUnary checks a unary answer (or a stream refused before it began).
func checkUnary(t *testing.T, path string, res *http.Response) {
	t.Helper()
	body, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		t.Fatalf("%s: read the answer: %v", path, err)
	}
	if res.StatusCode == http.StatusOK {
		return
	}
	if res.StatusCode >= 500 && !documented5xx[res.StatusCode] {
		t.Fatalf("%s: HTTP %d, a 5xx the protocol does not document: %s", path, res.StatusCode, body)
	}
	var e connectError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: HTTP %d with a body that is not a Connect error (%v): %q", path, res.StatusCode, err, body)
	}
	checkDetail(t, path, strconv.Itoa(res.StatusCode), e)
}

// checkFirstFrame reads a Connect stream up to its first message or its
// end: an error ending it must carry a reason.
func checkFirstFrame(t *testing.T, path string, r io.Reader) {
	t.Helper()
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		t.Fatalf("%s: the stream ended without a frame: %v", path, err)
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n > 8<<20 {
		t.Fatalf("%s: a frame of %d bytes", path, n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		t.Fatalf("%s: a frame cut short: %v", path, err)
	}
	if head[0]&0b10 == 0 {
		return // a message: the stream is served
	}
	var end struct {
		Error *connectError `json:"error"`
	}
	if err := json.Unmarshal(msg, &end); err != nil {
		t.Fatalf("%s: an end-stream message that is not JSON (%v): %q", path, err, msg)
	}
	if end.Error == nil {
		t.Fatalf("%s: the stream ended at once without an error: %q", path, msg)
	}
	if end.Error.Code == "internal" || end.Error.Code == "data_loss" || end.Error.Code == "unknown" {
		t.Fatalf("%s: the stream ended with %s, a server fault: %q", path, end.Error.Code, msg)
	}
	checkDetail(t, path, "end-stream", *end.Error)
}

// checkDetail fails t unless e carries a linli.v1.ErrorDetail with a reason.
func checkDetail(t *testing.T, path, where string, e connectError) {
	t.Helper()
	if e.Code == "" {
		t.Fatalf("%s (%s): an error without a code: %+v", path, where, e)
	}
	for _, d := range e.Details {
		if d.Type != "linli.v1.ErrorDetail" {
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(d.Value, "="))
		if err != nil {
			t.Fatalf("%s (%s): detail value %q: %v", path, where, d.Value, err)
		}
		var detail linliv1.ErrorDetail
		if err := proto.Unmarshal(raw, &detail); err != nil {
			t.Fatalf("%s (%s): detail: %v", path, where, err)
		}
		if detail.GetReason() == "" {
			t.Fatalf("%s (%s): %s %q with an ErrorDetail without a reason", path, where, e.Code, e.Message)
		}
		return
	}
	t.Fatalf("%s (%s): %s %q without a linli.v1.ErrorDetail", path, where, e.Code, e.Message)
}
