package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

// runCmd runs linli with args and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// newDataFolder makes a data folder with a community in its store.
func newDataFolder(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	code, out, errOut := runCmd(t, "admin", "init", "--data", data, "--community", "yuqiao",
		"--name", "玉桥社区", "--district", "通州区", "--street-office", "玉桥街道")
	if code != 0 {
		t.Fatalf("admin init: %d\n%s%s", code, out, errOut)
	}
	return data
}

func storeEpoch(t *testing.T, dir string) string {
	t.Helper()
	rep, err := linlisync.Check(context.Background(), dir, linlisync.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Epoch
}

func beforeRestoreDirs(t *testing.T, data string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(data, "store.before-restore-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAdminBackupRestoreCheck: with the server stopped, backup, check and
// restore work on a data folder; restore refuses to replace a store unless
// told to move it aside, and the restored store has a new epoch.
func TestAdminBackupRestoreCheck(t *testing.T) {
	t.Parallel()
	data := newDataFolder(t)
	backup := filepath.Join(t.TempDir(), "backup")
	oldEpoch := storeEpoch(t, storeDir(data))

	code, out, errOut := runCmd(t, "admin", "backup", "--data", data, "--to", backup)
	if code != 0 || !strings.Contains(out, "backup written to "+backup) || !strings.Contains(out, oldEpoch) {
		t.Fatalf("backup: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, "admin", "backup", "--data", data, "--to", backup); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("backup over an existing backup: %d %s", code, errOut)
	}

	code, out, errOut = runCmd(t, "admin", "check", "--data", data)
	if code != 0 || !strings.Contains(out, "no problems") {
		t.Fatalf("check: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "admin", "check", "--store", backup); code != 0 || !strings.Contains(out, oldEpoch) {
		t.Errorf("check of the backup folder: %d\n%s%s", code, out, errOut)
	}

	t.Run("RestoreRefusesNonEmptyStore", func(t *testing.T) {
		code, out, errOut := runCmd(t, "admin", "restore", "--data", data, "--from", backup)
		if code != 1 || !strings.Contains(errOut, "--move-aside") {
			t.Errorf("restore over a store: %d\n%s%s", code, out, errOut)
		}
		if got := beforeRestoreDirs(t, data); len(got) != 0 {
			t.Errorf("refused restore moved the store aside: %v", got)
		}
		if got := storeEpoch(t, storeDir(data)); got != oldEpoch {
			t.Errorf("refused restore changed the store: epoch %s, was %s", got, oldEpoch)
		}
	})

	t.Run("RestoreMovesAside", func(t *testing.T) {
		code, out, errOut := runCmd(t, "admin", "restore", "--data", data, "--from", backup, "--move-aside")
		if code != 0 || !strings.Contains(out, "integrity check: no problems") || !strings.Contains(out, "moved the current store aside") {
			t.Fatalf("restore --move-aside: %d\n%s%s", code, out, errOut)
		}
		moved := beforeRestoreDirs(t, data)
		if len(moved) != 1 || storeEpoch(t, moved[0]) != oldEpoch {
			t.Errorf("old store not kept aside intact: %v", moved)
		}
		if got := storeEpoch(t, storeDir(data)); got == oldEpoch || got == "" || !strings.Contains(out, got) {
			t.Errorf("restored epoch %s, old %s; output:\n%s", got, oldEpoch, out)
		}
		// The restored data folder serves: the community is there.
		o, err := openOffline(data)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if _, ok, err := o.Community("yuqiao"); !ok || err != nil {
			t.Errorf("community after restore: %v %v", ok, err)
		}
	})

	t.Run("RestoreRefusesNonBackup", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "data")
		code, _, errOut := runCmd(t, "admin", "restore", "--data", other, "--from", storeDir(data))
		if code != 1 || !strings.Contains(errOut, "not a linli backup") {
			t.Errorf("restore from a store folder: %d %s", code, errOut)
		}
	})
}

// TestAdminCheckExitCode: check exits 1 and lists the problems of a
// corrupt store, 0 for a sound one.
func TestAdminCheckExitCode(t *testing.T) {
	t.Parallel()
	data := newDataFolder(t)
	if code, out, errOut := runCmd(t, "admin", "check", "--data", data); code != 0 {
		t.Fatalf("sound store: %d\n%s%s", code, out, errOut)
	}
	db, err := pebble.Open(storeDir(data), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("Zjunk"), []byte("x"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "admin", "check", "--data", data)
	if code != 1 || !strings.Contains(out, `unknown prefix 'Z'`) || !strings.Contains(errOut, "1 integrity problems") {
		t.Errorf("corrupt store: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, "admin", "check", "--data", filepath.Join(t.TempDir(), "none")); code != 1 || !strings.Contains(errOut, "no store") {
		t.Errorf("missing store: %d %s", code, errOut)
	}
}

// TestAdminBackupOnline: while a server holds the store, the offline
// commands say so; backup --addr goes through the server's endpoint with an
// operator token minted from the data folder's keys. The endpoint here is
// the server's own.
func TestAdminBackupOnline(t *testing.T) {
	t.Parallel()
	data := newDataFolder(t)
	srv, err := server.New(server.Config{DataDir: data, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	for _, cmd := range [][]string{
		{"backup", "--data", data, "--to", filepath.Join(t.TempDir(), "b")},
		{"restore", "--data", data, "--from", filepath.Join(t.TempDir(), "b")},
		{"check", "--data", data},
	} {
		if cmd[0] == "restore" {
			// A real backup, so that restore gets as far as the store.
			cmd[4] = filepath.Join(t.TempDir(), "real")
			if err := srv.Service().Backup(t.Context(), cmd[4]); err != nil {
				t.Fatal(err)
			}
		}
		code, _, errOut := runCmd(t, append([]string{"admin"}, cmd...)...)
		if code != 1 || !strings.Contains(errOut, "the server is running") {
			t.Errorf("%s while the server runs: %d %s", cmd[0], code, errOut)
		}
		if cmd[0] == "backup" && !strings.Contains(errOut, "the server is running: call it with --addr (online backup)") {
			t.Errorf("backup while the server runs: %s", errOut)
		}
	}

	ts := httptest.NewServer(srv.Handler()) // the real endpoint, behind the real auth
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	to := filepath.Join(t.TempDir(), "online")
	code, out, errOut := runCmd(t, "admin", "backup", "--data", data, "--addr", addr, "--to", to)
	epoch := srv.Service().Epoch()
	if code != 0 || !strings.Contains(out, "backup written to "+to) || !strings.Contains(out, hex.EncodeToString(epoch[:])) {
		t.Fatalf("online backup: %d\n%s%s", code, out, errOut)
	}
	restored := filepath.Join(t.TempDir(), "store")
	if err := linlisync.Restore(to, restored); err != nil {
		t.Fatal(err)
	}
	if rep, err := linlisync.Check(t.Context(), restored, linlisync.CheckOptions{}); err != nil || !rep.OK() {
		t.Errorf("online backup restored: %v\n%s", err, rep)
	}

	// A server without the endpoint.
	bare := httptest.NewServer(http.NotFoundHandler())
	defer bare.Close()
	code, _, errOut = runCmd(t, "admin", "backup", "--data", data, "--addr", bare.URL, "--to", filepath.Join(t.TempDir(), "x"))
	if code != 1 || !strings.Contains(errOut, "no online backup endpoint") {
		t.Errorf("server without the endpoint: %d %s", code, errOut)
	}
	// Keys other than the server's.
	code, _, errOut = runCmd(t, "admin", "backup", "--data", newDataFolderWithKeys(t), "--addr", addr, "--to", filepath.Join(t.TempDir(), "y"))
	if code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("foreign keys: %d %s", code, errOut)
	}
}

func newDataFolderWithKeys(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	if _, err := server.LoadOrCreateKeys(data); err != nil {
		t.Fatal(err)
	}
	return data
}
