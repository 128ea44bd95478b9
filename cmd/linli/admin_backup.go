package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/linli/linli/server"
	linlisync "github.com/linli/linli/sync"
)

// backupPath is the server endpoint an online backup posts to (wired by the
// server package): POST, "Authorization: Bearer <operator token>", body
// backupRequest, answer backupAnswer.
const backupPath = server.BackupPath

// The operator principal an online backup authenticates as: minted from the
// data folder's signing keys, so only someone who can read them can call it.
var operatorPrincipal = server.Operator

type backupRequest struct {
	Dir string `json:"dir"`
}

type backupAnswer struct {
	Dir   string `json:"dir"`
	Epoch string `json:"epoch"`
}

// errServerRunning explains why an offline command cannot open the store.
var errServerRunning = errors.New("the server is running")

func storeDir(data string) string { return filepath.Join(data, "store") }

// runAdminBackup takes a consistent backup of the store: directly when the
// server is stopped, or through the running server with --addr.
func runAdminBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("linli admin backup", stderr)
	data := fs.String("data", "./linli-data", "data folder (its store is backed up; with --addr, its signing keys authenticate the call)")
	to := fs.String("to", "", "backup folder to create; must not exist (required). Use the store's file system: tables are hard-linked")
	addr := fs.String("addr", "", "host:port of the running server: take the backup through it (online). Without it the server must be stopped")
	timeout := fs.Duration("timeout", 30*time.Minute, "with --addr: how long to wait for the server")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("--to is required")
	}
	if *addr != "" {
		return backupOnline(ctx, *addr, *data, *to, *timeout, stdout)
	}
	dir := storeDir(*data)
	if !exists(dir) {
		return fmt.Errorf("no store in %s", *data)
	}
	st, err := openStore(dir)
	if storeLocked(err) {
		return fmt.Errorf("%w: call it with --addr (online backup)", errServerRunning)
	}
	if err != nil {
		return err
	}
	err = st.Backup(ctx, *to)
	epoch := st.Epoch()
	if err := errors.Join(err, st.Close()); err != nil {
		return err
	}
	printBackupDone(stdout, *to, hex.EncodeToString(epoch[:]), *data)
	return nil
}

func printBackupDone(w io.Writer, dir, epoch, data string) {
	fmt.Fprintf(w, "backup written to %s (store epoch %s)\n", dir, epoch)
	fmt.Fprintf(w, "The signing keys (%s) are not in it: keep a copy of that folder somewhere safe.\n", filepath.Join(data, "keys"))
}

// storeLocked reports whether err says the store's lock is held: by a
// server process, or by this process.
func storeLocked(err error) bool {
	return err != nil && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		errors.Is(err, linlisync.ErrStoreInUse) || strings.Contains(err.Error(), "lock held by current process"))
}

// backupOnline asks the running server at addr to write a backup to dir (a
// path on the server's machine), authenticated as the operator with a token
// minted from data's signing keys.
func backupOnline(ctx context.Context, addr, data, dir string, timeout time.Duration, stdout io.Writer) error {
	keys, err := serverKeys(data)
	if err != nil {
		return err
	}
	token, err := server.NewTokens(keys).Mint(operatorPrincipal, 5*time.Minute)
	if err != nil {
		return err
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // the server's working directory is not ours
	}
	body, err := json.Marshal(backupRequest{Dir: dir})
	if err != nil {
		return err
	}
	url := serverURL(addr) + backupPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("online backup: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return fmt.Errorf("online backup: %w", err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("online backup: read answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(answer))
		if len(msg) > 1024 {
			msg = msg[:1024] + "…"
		}
		if res.StatusCode == http.StatusNotFound {
			msg += " (this server has no online backup endpoint: upgrade it, or stop it and back up without --addr)"
		}
		return fmt.Errorf("online backup: the server answered %s: %s", res.Status, msg)
	}
	var a backupAnswer
	if err := json.Unmarshal(answer, &a); err != nil || a.Dir == "" {
		return fmt.Errorf("online backup: unexpected answer %q", answer)
	}
	printBackupDone(stdout, a.Dir, a.Epoch, data)
	return nil
}

// runAdminRestore puts a backup in place of the (stopped) server's store.
func runAdminRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("linli admin restore", stderr)
	data := fs.String("data", "./linli-data", "data folder whose store is replaced (the server must be stopped)")
	from := fs.String("from", "", "backup folder made by linli admin backup (required; only read)")
	moveAside := fs.Bool("move-aside", false, "keep an existing store as <data>/store.before-restore-<time> and restore in its place")
	check := fs.Bool("check", true, "verify the restored store's integrity")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" {
		return errors.New("--from is required")
	}
	m, err := linlisync.ReadBackupManifest(*from)
	if err != nil {
		return err
	}
	dir := storeDir(*data)
	var moved string
	if *moveAside {
		if moved, err = linlisync.MoveAside(dir, time.Now()); err != nil {
			return restoreError(err, dir)
		}
		if moved != "" {
			fmt.Fprintf(stdout, "moved the current store aside to %s\n", moved)
		}
	}
	if err := linlisync.Restore(*from, dir); err != nil {
		if moved != "" {
			err = errors.Join(err, putBack(moved, dir))
		}
		return restoreError(err, dir)
	}
	fmt.Fprintf(stdout, "restored %s (taken %s, epoch %s) into %s\n", *from, m.Time.Format(time.RFC3339), m.Epoch, dir)
	if !*check {
		fmt.Fprintln(stdout, "The store has a new epoch: clients will refetch their scopes.")
		return nil
	}
	rep, err := linlisync.Check(ctx, dir, linlisync.CheckOptions{Progress: stderr})
	if err != nil {
		return fmt.Errorf("check the restored store: %w", err)
	}
	fmt.Fprintf(stdout, "The store has a new epoch (%s): clients will refetch their scopes.\n", rep.Epoch)
	if !rep.OK() {
		fmt.Fprint(stdout, rep)
		return fmt.Errorf("the restored store has %d integrity problems", rep.ProblemCount)
	}
	fmt.Fprintln(stdout, "integrity check: no problems")
	return nil
}

// putBack undoes a move aside after a failed restore.
func putBack(moved, dir string) error {
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("the old store stays at %s: %w", moved, err)
	}
	if err := os.Rename(moved, dir); err != nil {
		return fmt.Errorf("the old store stays at %s: %w", moved, err)
	}
	return nil
}

func restoreError(err error, dir string) error {
	switch {
	case errors.Is(err, linlisync.ErrStoreInUse):
		return fmt.Errorf("%w: stop it first (restore is offline): %v", errServerRunning, err)
	case errors.Is(err, linlisync.ErrStoreNotEmpty):
		return fmt.Errorf("%s already holds a store: pass --move-aside to keep it as %s.before-restore-<time> and restore in its place", dir, dir)
	}
	return err
}

// runAdminCheck verifies a stopped store's integrity; problems exit 1.
func runAdminCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("linli admin check", stderr)
	data := fs.String("data", "./linli-data", "data folder whose store is checked (the server must be stopped)")
	store := fs.String("store", "", "check this store or backup folder instead of <data>/store")
	maxProblems := fs.Int("max-problems", 100, "how many problems to list (all are counted)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dir := *store
	if dir == "" {
		dir = storeDir(*data)
	}
	rep, err := linlisync.Check(ctx, dir, linlisync.CheckOptions{Progress: stderr, MaxProblems: *maxProblems})
	if errors.Is(err, linlisync.ErrStoreInUse) {
		return fmt.Errorf("%w: stop it first (check reads the store folder, which the server holds)", errServerRunning)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "store %s\n%s", dir, rep)
	if !rep.OK() {
		return fmt.Errorf("%d integrity problems in %s", rep.ProblemCount, dir)
	}
	return nil
}

// serverKeys loads the running server's signing keys from its data folder,
// never creating one.
func serverKeys(data string) (*server.KeySet, error) {
	if !exists(filepath.Join(data, "keys")) {
		return nil, fmt.Errorf("no signing keys in %s: --data must be the running server's data folder", filepath.Join(data, "keys"))
	}
	return server.LoadOrCreateKeys(data)
}

// serverURL turns "host:port" or a URL into a base URL without a trailing slash.
func serverURL(addr string) string {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return strings.TrimSuffix(addr, "/")
}
