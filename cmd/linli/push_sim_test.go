package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linli/linli/internal/pushsim"
)

// TestPushSimWithServe: `linli serve --push-gateway` pointed at `linli
// push-sim`. The admin's phone registers a pusher; a resident posts a
// request with emergency signs; push-sim prints the emergency alert the
// admin's phone is woken with: a type, a count and an id, nothing of the
// post. The control API then makes the gateway reject the admin's key,
// and the server removes the pusher.
func TestPushSimWithServe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var simOut, simErr, out, errOut syncBuffer
	simDone, done := make(chan int, 1), make(chan int, 1)
	go func() { simDone <- Run(ctx, []string{"push-sim", "--listen", "127.0.0.1:0"}, &simOut, &simErr) }()
	gateway := "http://" + waitFor(t, &simOut, "Matrix push gateway at http://", "/_matrix/")
	dir := filepath.Join(t.TempDir(), "data")
	go func() {
		done <- Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--log-format", "json",
			"--push-gateway", gateway, "--init-community", "yuqiao"}, &out, &errOut)
	}()
	base := "http://" + waitFor(t, &errOut, `"addr":"`, `"`)
	waitFor(t, &out, "/linli.v1.AuthService/Join", "\n")
	call := func(path, token, body string) map[string]any {
		t.Helper()
		status, b := postJSON(t, base+path, token, body)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, status, b)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	token := func(v map[string]any) string { return v["tokens"].(map[string]any)["accessToken"].(string) }

	admin := token(call("/linli.v1.AuthService/Join", "", `{"protocolVersion":1,"code":"`+codeLine(out.String())+`","clientId":"phone-zhao","displayName":"赵主任"}`))
	call("/linli.v1.AuthService/SetPusher", admin, `{"protocolVersion":1,"pusher":{"kind":"PUSHER_KIND_HTTP","appId":"org.linli.app.ios","pushkey":"apns-token-zhao","lang":"zh-CN"}}`)
	call("/linli.v1.CommunityService/CreateBuilding", admin, `{"protocolVersion":1,"communityId":"yuqiao","building":{"id":"b3","name":"3号楼","dropPoints":["15楼电梯口窗台"]}}`)
	code := call("/linli.v1.CommunityService/CreateJoinCode", admin, `{"protocolVersion":1,"communityId":"yuqiao","role":"ROLE_RESIDENT","maxUses":1}`)["code"].(string)
	wang := token(call("/linli.v1.AuthService/Join", "", `{"protocolVersion":1,"code":"`+code+`","clientId":"phone-wang","displayName":"王芳","buildingId":"b3","unit":"1502"}`))
	res := call("/linli.v1.SyncService/Push", wang, `{"protocolVersion":1,"clientId":"phone-wang","mutations":[{"id":"1","postRequest":{"postId":"baby","draft":{
		"items":[{"need":"儿童退烧药","quantity":1}],"urgency":"URGENCY_URGENT","note":"宝宝两个月大，发烧，呼吸困难",
		"buildingId":"b3","unit":"1502","phone":"13800138000","displayName":"王芳"}}}]}`)
	if r := res["results"].([]any)[0].(map[string]any); r["status"] != "MUTATION_STATUS_APPLIED" {
		t.Fatalf("request: %v", r)
	}

	line := waitFor(t, &simOut, "org.linli.app.ios/apns-token-zhao: ", "\n")
	if !strings.HasPrefix(line, "emergency_alert ×1, prio high, id ") {
		t.Errorf("push-sim printed %q, want the emergency alert", line)
	}
	for _, secret := range []string{"王芳", "1502", "138", "发烧", "呼吸", "baby"} {
		if strings.Contains(simOut.String(), secret) {
			t.Errorf("push-sim output shows %q:\n%s", secret, simOut.String())
		}
	}

	// The admin's phone uninstalled the app: the gateway rejects its key.
	ctl := "http://" + strings.TrimPrefix(gateway, "http://") + pushsim.ControlPath + "faults"
	if r, err := http.PostForm(ctl, url.Values{"reject": {"apns-token-zhao"}}); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("POST faults: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	call("/linli.v1.SyncService/Push", wang, `{"protocolVersion":1,"clientId":"phone-wang","mutations":[{"id":"2","postRequest":{"postId":"me","draft":{
		"items":[{"itemCode":"antigen-test","quantity":1}],"urgency":"URGENCY_URGENT","note":"胸痛",
		"buildingId":"b3","unit":"1502","displayName":"王芳"}}}]}`)
	waitFor(t, &simOut, "(push key rejected)", "\n")
	deadline := time.Now().Add(10 * time.Second)
	for call("/linli.v1.AuthService/GetPushSettings", admin, `{"protocolVersion":1}`)["pusher"] != nil {
		if time.Now().After(deadline) {
			t.Fatal("the rejected pusher was not removed")
		}
		time.Sleep(20 * time.Millisecond)
	}

	cancel()
	for name, c := range map[string]chan int{"serve": done, "push-sim": simDone} {
		select {
		case code := <-c:
			if code != 0 {
				t.Errorf("%s exited %d: %s%s", name, code, errOut.String(), simErr.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s did not stop", name)
		}
	}
}
