package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseFlagsEnv(t *testing.T) {
	t.Setenv("LINLI_LISTEN", "127.0.0.1:9999")
	t.Setenv("LINLI_LOG_LEVEL", "debug")
	t.Setenv("LINLI_DATA", "/from/env")

	fs := newFlagSet("test", t.Output())
	listen := fs.String("listen", "127.0.0.1:8080", "")
	data := fs.String("data", "./linli-data", "")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, []string{"--data", "/from/flag"}); err != nil {
		t.Fatal(err)
	}
	if *listen != "127.0.0.1:9999" {
		t.Errorf("listen = %q, want the env value", *listen)
	}
	if *data != "/from/flag" {
		t.Errorf("data = %q, want the flag to win over the env", *data)
	}
	if lf.level != "debug" {
		t.Errorf("log level = %q, want debug from env", lf.level)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	fs := newFlagSet("test", t.Output())
	fs.Duration("ttl", 0, "")
	if err := parseFlags(fs, []string{"--nope"}); err != errUsage {
		t.Errorf("unknown flag: err = %v, want errUsage", err)
	}
	t.Setenv("LINLI_TTL", "soon")
	fs = newFlagSet("test", t.Output())
	fs.Duration("ttl", 0, "")
	if err := parseFlags(fs, nil); err == nil {
		t.Error("bad env value accepted")
	}
	fs = newFlagSet("test", t.Output())
	if err := parseFlags(fs, []string{"stray"}); err == nil {
		t.Error("stray argument accepted")
	}
	var lf logFlags
	lf.format, lf.level = "xml", "info"
	if _, err := lf.logger(t.Output()); err == nil {
		t.Error("log format xml accepted")
	}
}

// TestServeRefusesBadConfig: serve checks its configuration before it
// opens anything, and says which flag is wrong.
func TestServeRefusesBadConfig(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--hotline-every", "0s"}, "--hotline-every"},
		{[]string{"--hotline-url", "ftp://hotline"}, "--hotline-url"},
		{[]string{"--hotline-url", "127.0.0.1:8311"}, "--hotline-url"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,proxy.local"}, "--trusted-proxies"},
	} {
		code, _, errOut := runCmd(t, append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0"}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want a failure naming %s", tc.args, code, errOut, tc.want)
		}
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("a refused configuration still created %v", entries)
	}
}
