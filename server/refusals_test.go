package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/linli/linli/internal/linlitest"
	"github.com/linli/linli/mutualaid"
	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	"github.com/linli/linli/server"
)

// TestEveryRefusalExplained sends every kind of bad input to a real server,
// in Connect, gRPC and gRPC-Web, and asserts the code and the ErrorDetail
// reason of each refusal, those connect-go makes before a handler runs
// included; the server answers health afterwards.
func TestEveryRefusalExplained(t *testing.T) {
	t.Parallel()
	h := linlitest.NewServer(t, server.Config{MaxRequestBytes: 1 << 20})
	tok := h.Token(t, "u1", "c1", mutualaid.RoleResident)
	pushPath := "/linli.v1.SyncService/Push"
	pullPath := "/linli.v1.SyncService/Pull"
	big := strings.Repeat("x", 2<<20)
	goodPush, _ := proto.Marshal(&linliv1.PushRequest{ProtocolVersion: 1, ClientId: "phone", Mutations: []*linliv1.Mutation{offer(1, "p1")}})
	badUTF8 := append([]byte{}, goodPush...)
	if i := bytes.Index(badUTF8, []byte("phone")); i >= 0 {
		badUTF8[i] = 0xff
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"protocolVersion":1}`))
	_ = zw.Close()
	corruptGzip := gz.Bytes()[:gz.Len()-6]
	envelope := func(flags byte, b []byte) []byte {
		out := []byte{flags, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(out[1:], uint32(len(b)))
		return append(out, b...)
	}
	type req struct {
		method, path, ctype string
		header              map[string]string
		body                []byte
		chunked             bool
		h2                  bool
		noToken             bool
	}
	cases := []struct {
		name   string
		req    req
		code   connect.Code
		reason string
	}{
		{"OversizedBody", req{method: "POST", path: pushPath, ctype: "application/json", body: []byte(`{"protocolVersion":1,"clientId":"` + big + `"}`)}, connect.CodeInvalidArgument, "message_too_large"},
		{"OversizedChunkedBody", req{method: "POST", path: pushPath, ctype: "application/json", chunked: true, body: []byte(`{"protocolVersion":1,"clientId":"` + big + `"}`)}, connect.CodeInvalidArgument, "message_too_large"},
		{"OversizedJoinWithoutToken", req{method: "POST", path: "/linli.v1.AuthService/Join", ctype: "application/json", noToken: true, body: []byte(`{"code":"` + strings.Repeat("A", 100<<10) + `"}`)}, connect.CodeInvalidArgument, "message_too_large"},
		{"JSONArray", req{method: "POST", path: pushPath, ctype: "application/json", body: []byte(`[1]`)}, connect.CodeInvalidArgument, "message_malformed"},
		{"JSONWrongTypes", req{method: "POST", path: pushPath, ctype: "application/json", body: []byte(`{"protocolVersion":"one","mutations":{}}`)}, connect.CodeInvalidArgument, "message_malformed"},
		{"JSONTwoOneofMembers", req{method: "POST", path: pushPath, ctype: "application/json", body: []byte(`{"protocolVersion":1,"clientId":"phone","mutations":[{"id":"1","cancelPost":{"postId":"a"},"editPost":{"postId":"a"}}]}`)}, connect.CodeInvalidArgument, "message_malformed"},
		{"InvalidUTF8", req{method: "POST", path: pushPath, ctype: "application/proto", body: badUTF8}, connect.CodeInvalidArgument, "message_malformed"},
		{"TruncatedProtobuf", req{method: "POST", path: pushPath, ctype: "application/proto", body: goodPush[:len(goodPush)-7]}, connect.CodeInvalidArgument, "message_malformed"},
		{"GarbageProtobuf", req{method: "POST", path: pushPath, ctype: "application/proto", body: []byte{0xff, 0xff, 0xff, 0xff, 0x0f}}, connect.CodeInvalidArgument, "message_malformed"},
		{"JSONSentAsProto", req{method: "POST", path: pushPath, ctype: "application/proto", body: []byte(`{"protocolVersion":1}`)}, connect.CodeInvalidArgument, "message_malformed"},
		{"UnknownContentType", req{method: "POST", path: pushPath, ctype: "text/plain", body: []byte(`{}`)}, connect.CodeInvalidArgument, "content_type_unsupported"},
		{"UnknownEncoding", req{method: "POST", path: pullPath, ctype: "application/json", header: map[string]string{"Content-Encoding": "br"}, body: []byte(`{"protocolVersion":1}`)}, connect.CodeUnimplemented, "encoding_unsupported"},
		{"CorruptGzip", req{method: "POST", path: pullPath, ctype: "application/json", header: map[string]string{"Content-Encoding": "gzip"}, body: corruptGzip}, connect.CodeInvalidArgument, "message_malformed"},
		{"GETWithGarbageMessage", req{method: "GET", path: pullPath + "?encoding=json&base64=1&message=%%%garbage"}, connect.CodeInvalidArgument, "message_malformed"},
		{"GETWithBadJSON", req{method: "GET", path: pullPath + "?encoding=json&message=" + "%5B1%5D"}, connect.CodeInvalidArgument, "message_malformed"},
		{"GETOfPush", req{method: "GET", path: pushPath + "?encoding=json&message=%7B%7D"}, connect.CodeUnimplemented, "method_not_allowed"},
		{"BadTimeout", req{method: "POST", path: pullPath, ctype: "application/json", header: map[string]string{"Connect-Timeout-Ms": "soon"}, body: []byte(`{"protocolVersion":1}`)}, connect.CodeInvalidArgument, "timeout_invalid"},
		{"UnknownProcedure", req{method: "POST", path: "/linli.v1.SyncService/Teleport", ctype: "application/json", body: []byte(`{}`)}, connect.CodeUnimplemented, "procedure_unknown"},
		{"StreamBadJSON", req{method: "POST", path: "/linli.v1.SyncService/Subscribe", ctype: "application/connect+json", body: envelope(0, []byte(`[1]`))}, connect.CodeInvalidArgument, "message_malformed"},
		{"StreamTruncatedEnvelope", req{method: "POST", path: "/linli.v1.SyncService/Subscribe", ctype: "application/connect+json", body: []byte{0, 0, 0, 0, 40, '{'}}, connect.CodeInvalidArgument, "message_malformed"},
		{"GRPCGarbage", req{method: "POST", path: pushPath, ctype: "application/grpc", h2: true, body: envelope(0, []byte{0xff, 0xff, 0xff})}, connect.CodeInvalidArgument, "message_malformed"},
		{"GRPCOversized", req{method: "POST", path: pushPath, ctype: "application/grpc", h2: true, chunked: true, body: envelope(0, []byte(big))}, connect.CodeInvalidArgument, "message_too_large"},
		{"GRPCWebGarbage", req{method: "POST", path: pushPath, ctype: "application/grpc-web+proto", body: envelope(0, []byte{0xff, 0xff, 0xff})}, connect.CodeInvalidArgument, "message_malformed"},
		{"GRPCWebJSONArray", req{method: "POST", path: pushPath, ctype: "application/grpc-web+json", body: envelope(0, []byte(`[1]`))}, connect.CodeInvalidArgument, "message_malformed"},
		// Refusals of our own handlers, for completeness.
		{"MissingToken", req{method: "POST", path: pullPath, ctype: "application/json", noToken: true, body: []byte(`{"protocolVersion":1}`)}, connect.CodeUnauthenticated, "token_missing"},
		{"UnsupportedVersion", req{method: "POST", path: pullPath, ctype: "application/json", body: []byte(`{"protocolVersion":7}`)}, connect.CodeFailedPrecondition, "protocol_version_unsupported"},
		{"MalformedCursor", req{method: "POST", path: pullPath, ctype: "application/json", body: []byte(`{"protocolVersion":1,"cursor":"%%%"}`)}, connect.CodeInvalidArgument, "cursor_malformed"},
		{"EmptyBatch", req{method: "POST", path: pushPath, ctype: "application/json", body: []byte(`{"protocolVersion":1,"clientId":"phone"}`)}, connect.CodeInvalidArgument, "batch_size_out_of_range"},
		{"BadClientID", req{method: "POST", path: pushPath, ctype: "application/json", body: []byte(`{"protocolVersion":1,"clientId":"a/b","mutations":[{"id":"1"}]}`)}, connect.CodeInvalidArgument, "client_id_invalid"},
		{"UnknownMutationKind", req{method: "POST", path: pushPath, ctype: "application/json", body: []byte(`{"protocolVersion":1,"clientId":"phone","mutations":[{"id":"1"}]}`)}, connect.CodeInvalidArgument, "unknown_mutation_kind"},
		{"IDGap", req{method: "POST", path: pushPath, ctype: "application/json", body: []byte(`{"protocolVersion":1,"clientId":"phone","mutations":[{"id":"9","cancelPost":{"postId":"a"}}]}`)}, connect.CodeFailedPrecondition, "mutation_id_gap"},
		{"GRPCMissingToken", req{method: "POST", path: pullPath, ctype: "application/grpc", h2: true, noToken: true, body: envelope(0, nil)}, connect.CodeUnauthenticated, "token_missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tc.req.body)
			if tc.req.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			r, err := http.NewRequest(tc.req.method, h.URL+tc.req.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.req.ctype != "" {
				r.Header.Set("Content-Type", tc.req.ctype)
			}
			if tc.req.ctype == "application/grpc" {
				r.Header.Set("TE", "trailers")
			}
			if !tc.req.noToken {
				r.Header.Set("Authorization", "Bearer "+tok)
			}
			for k, v := range tc.req.header {
				r.Header.Set(k, v)
			}
			client := h.HTTP
			if tc.req.h2 {
				client = h.H2C
			}
			res, err := client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			code, detail := readRefusal(t, res, tc.req.ctype)
			if code != tc.code || detail.GetReason() != tc.reason {
				t.Fatalf("got %v / %q (%v), want %v / %q", code, detail.GetReason(), detail, tc.code, tc.reason)
			}
			if tc.reason == "message_too_large" && detail.GetMaxMessageBytes() == 0 {
				t.Fatalf("message_too_large without max_message_bytes")
			}
		})
	}
	res, err := h.HTTP.Post(h.URL+"/grpc.health.v1.Health/Check", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), "SERVING_STATUS_SERVING") {
		t.Fatalf("health after the bad inputs = %d %s", res.StatusCode, b)
	}
}

// readRefusal decodes the error of res in the protocol of ctype.
func readRefusal(t *testing.T, res *http.Response, ctype string) (connect.Code, *linliv1.ErrorDetail) {
	t.Helper()
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	fromStatus := func(code, details string) (connect.Code, *linliv1.ErrorDetail) {
		var c connect.Code
		fmt.Sscan(code, (*uint32)(&c))
		raw, err := connect.DecodeBinaryHeader(details)
		if err != nil {
			t.Fatalf("status %s: details %q: %v", code, details, err)
		}
		return c, detailFromStatus(t, raw)
	}
	switch {
	case strings.HasPrefix(ctype, "application/grpc-web"):
		if st := res.Header.Get("Grpc-Status"); st != "" {
			return fromStatus(st, res.Header.Get("Grpc-Status-Details-Bin"))
		}
		t.Fatalf("grpc-web answer without status: %d %v %q", res.StatusCode, res.Header, b)
	case strings.HasPrefix(ctype, "application/grpc"):
		st := res.Trailer.Get("Grpc-Status")
		if st == "" {
			st = res.Header.Get("Grpc-Status")
		}
		d := res.Trailer.Get("Grpc-Status-Details-Bin")
		if d == "" {
			d = res.Header.Get("Grpc-Status-Details-Bin")
		}
		return fromStatus(st, d)
	case strings.HasPrefix(ctype, "application/connect+"):
		if len(b) < 5 {
			t.Fatalf("stream answer %d %q", res.StatusCode, b)
		}
		var end struct {
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(b[5:], &end); err != nil {
			t.Fatalf("end of stream %q: %v", b, err)
		}
		return connectJSONError(t, end.Error)
	}
	return connectJSONError(t, b)
}

func connectJSONError(t *testing.T, b []byte) (connect.Code, *linliv1.ErrorDetail) {
	t.Helper()
	var e struct {
		Code    string `json:"code"`
		Details []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"details"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %q: %v", b, err)
	}
	var c connect.Code
	_ = c.UnmarshalText([]byte(e.Code))
	for _, d := range e.Details {
		if d.Type == "linli.v1.ErrorDetail" {
			raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(d.Value, "="))
			if err != nil {
				t.Fatal(err)
			}
			var detail linliv1.ErrorDetail
			if err := proto.Unmarshal(raw, &detail); err != nil {
				t.Fatal(err)
			}
			return c, &detail
		}
	}
	t.Fatalf("no ErrorDetail in %s", b)
	return c, nil
}

// detailFromStatus finds the linli.v1.ErrorDetail in an encoded
// google.rpc.Status (code 1, message 2, details 3: Any{type_url 1, value 2}).
func detailFromStatus(t *testing.T, raw []byte) *linliv1.ErrorDetail {
	t.Helper()
	fields := func(b []byte, fn func(num protowire.Number, v []byte)) {
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			b = b[n:]
			if typ != protowire.BytesType {
				n = protowire.ConsumeFieldValue(num, typ, b)
				b = b[n:]
				continue
			}
			v, n := protowire.ConsumeBytes(b)
			b = b[n:]
			fn(num, v)
		}
	}
	var detail *linliv1.ErrorDetail
	fields(raw, func(num protowire.Number, v []byte) {
		if num != 3 {
			return
		}
		var typeURL string
		var value []byte
		fields(v, func(num protowire.Number, v []byte) {
			switch num {
			case 1:
				typeURL = string(v)
			case 2:
				value = v
			}
		})
		if strings.HasSuffix(typeURL, "/linli.v1.ErrorDetail") {
			detail = &linliv1.ErrorDetail{}
			if err := proto.Unmarshal(value, detail); err != nil {
				t.Fatal(err)
			}
		}
	})
	if detail == nil {
		t.Fatalf("no ErrorDetail in status %x", raw)
	}
	return detail
}
