package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemo plays the whole story in-process; every step checks what the
// people in it see, so the run fails if a step misbehaves.
func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run(t.Context(), []string{"demo"}, &out, &errb); code != 0 {
		t.Fatalf("demo exited %d: %s\n%s", code, errb.String(), out.String())
	}
	for _, want := range []string{
		"suggested to 王芳: offer li-meilin",
		"李伟 sees: deliver to unit 1502",
		`(unit shown: "")`,
		"HANDOFF_STATE_RECEIVED",
		"王**; building b3, floor 15",
		"no unit number or phone reached 陈静",
		"emergency_call_120",
		"120",
		"玉桥街道办事处",
		"resolution rate 100%, satisfaction rate 100%",
		"The story ran end to end.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
