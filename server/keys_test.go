package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/linli/linli/mutualaid"
)

// testPrincipal is a valid caller for minting test tokens.
var testPrincipal = Principal{
	UserID:      "u-alice",
	CommunityID: "c-riverside",
	Role:        mutualaid.RoleVolunteer,
	ClientID:    "phone-1",
}

// mustLoadKeys loads (or creates) the keys of dataDir or fails the test.
func mustLoadKeys(tb testing.TB, dataDir string) *KeySet {
	tb.Helper()
	ks, err := LoadOrCreateKeys(dataDir)
	if err != nil {
		tb.Fatalf("LoadOrCreateKeys: %v", err)
	}
	return ks
}

// mustMint mints a token for testPrincipal or fails the test.
func mustMint(tb testing.TB, tokens *Tokens) string {
	tb.Helper()
	tok, err := tokens.Mint(testPrincipal, time.Hour)
	if err != nil {
		tb.Fatalf("Mint: %v", err)
	}
	return tok
}

// headerKid returns the "kid" header of tok without verifying it.
func headerKid(tb testing.TB, tok string) string {
	tb.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &Claims{})
	if err != nil {
		tb.Fatalf("ParseUnverified: %v", err)
	}
	kid, _ := parsed.Header["kid"].(string)
	return kid
}

func keyPath(dataDir, kid string) string {
	return filepath.Join(dataDir, "keys", kid+".pem")
}

func TestLoadOrCreateKeys(t *testing.T) {
	t.Parallel()

	t.Run("CreatesPrivateFiles", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ks := mustLoadKeys(t, dir)
		if got := ks.IDs(); len(got) != 1 || got[0] != ks.CurrentID() {
			t.Fatalf("IDs() = %v, want [%s]", got, ks.CurrentID())
		}
		if got := ks.CurrentID(); !validKeyID(got) {
			t.Errorf("CurrentID() = %q, want 16 hex characters", got)
		}
		assertMode(t, filepath.Join(dir, "keys"), 0o700|os.ModeDir)
		assertMode(t, keyPath(dir, ks.CurrentID()), 0o600)
		entries, err := os.ReadDir(filepath.Join(dir, "keys"))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Errorf("keys folder holds %d entries, want 1 (no temporary files left)", len(entries))
		}
	})

	t.Run("ReloadKeepsKeysAndVerifiesOldTokens", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ks := mustLoadKeys(t, dir)
		tok := mustMint(t, NewTokens(ks))
		reloaded := mustLoadKeys(t, dir)
		if got, want := reloaded.CurrentID(), ks.CurrentID(); got != want {
			t.Errorf("reloaded CurrentID() = %s, want %s", got, want)
		}
		if _, err := NewTokens(reloaded).Verify(tok); err != nil {
			t.Errorf("Verify after reload: got %v, want nil", err)
		}
	})

	t.Run("IgnoresTemporaryFiles", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ks := mustLoadKeys(t, dir)
		leftover := filepath.Join(dir, "keys", ".tmp-123")
		if err := os.WriteFile(leftover, []byte("half a key"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := mustLoadKeys(t, dir).IDs(); len(got) != 1 || got[0] != ks.CurrentID() {
			t.Errorf("IDs() = %v, want [%s]", got, ks.CurrentID())
		}
	})
}

func TestLoadOrCreateKeysRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		spoil func(t *testing.T, dataDir, kid string)
	}{
		{"KeyFileReadableByOthers", chmodKey(0o644)},
		{"KeyFileReadableByGroup", chmodKey(0o640)},
		{"KeyFileWritableByOthers", chmodKey(0o602)},
		{"KeyFileExecutable", chmodKey(0o700)},
		{"KeysFolderOpenToGroup", func(t *testing.T, dataDir, _ string) {
			if err := os.Chmod(filepath.Join(dataDir, "keys"), 0o750); err != nil {
				t.Fatal(err)
			}
		}},
		{"MisnamedKeyFile", func(t *testing.T, dataDir, kid string) {
			if err := os.Rename(keyPath(dataDir, kid), keyPath(dataDir, "NOT-HEX")); err != nil {
				t.Fatal(err)
			}
		}},
		{"NotPEM", writeKeyFile([]byte("not a key"))},
		{"NotEd25519", writeKeyFile(ecdsaPEM(t))},
		{"Symlink", func(t *testing.T, dataDir, kid string) {
			if err := os.Symlink(keyPath(dataDir, kid), keyPath(dataDir, "00000000000000ff")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ks := mustLoadKeys(t, dir)
			tt.spoil(t, dir, ks.CurrentID())
			got, err := LoadOrCreateKeys(dir)
			if err == nil {
				t.Fatalf("LoadOrCreateKeys = %v keys, nil error; want an error", got.IDs())
			}
			if _, err := AddKey(dir); err == nil {
				t.Errorf("AddKey: got nil error, want an error")
			}
		})
	}
}

func chmodKey(mode os.FileMode) func(t *testing.T, dataDir, kid string) {
	return func(t *testing.T, dataDir, kid string) {
		if err := os.Chmod(keyPath(dataDir, kid), mode); err != nil {
			t.Fatal(err)
		}
	}
}

func writeKeyFile(data []byte) func(t *testing.T, dataDir, kid string) {
	return func(t *testing.T, dataDir, _ string) {
		if err := os.WriteFile(keyPath(dataDir, "00000000000000ee"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// ecdsaPEM returns a PKCS#8 PEM P-256 key: well formed, but not Ed25519.
func ecdsaPEM(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestAddKey(t *testing.T) {
	t.Parallel()

	t.Run("NewKeyIsCurrentAndOldTokensVerify", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		old := mustLoadKeys(t, dir)
		oldTok := mustMint(t, NewTokens(old))

		added, err := AddKey(dir)
		if err != nil {
			t.Fatalf("AddKey: %v", err)
		}
		if added.CurrentID() == old.CurrentID() {
			t.Fatalf("CurrentID() after AddKey = %s, want a new key id", added.CurrentID())
		}
		assertMode(t, keyPath(dir, added.CurrentID()), 0o600)
		for name, ks := range map[string]*KeySet{"returned": added, "reloaded": mustLoadKeys(t, dir)} {
			tokens := NewTokens(ks)
			if got, want := len(ks.IDs()), 2; got != want {
				t.Errorf("%s: %d keys, want %d", name, got, want)
			}
			if got, want := ks.CurrentID(), added.CurrentID(); got != want {
				t.Errorf("%s: CurrentID() = %s, want %s", name, got, want)
			}
			if _, err := tokens.Verify(oldTok); err != nil {
				t.Errorf("%s: Verify(old token) = %v, want nil", name, err)
			}
			newTok := mustMint(t, tokens)
			if got, want := headerKid(t, newTok), added.CurrentID(); got != want {
				t.Errorf("%s: new token kid = %s, want %s", name, got, want)
			}
			if _, err := tokens.Verify(newTok); err != nil {
				t.Errorf("%s: Verify(new token) = %v, want nil", name, err)
			}
		}
	})

	t.Run("NewestWinsEvenIfClockWentBack", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		old := mustLoadKeys(t, dir)
		// Pretend the first key was made in the future.
		future := time.Now().Add(24 * time.Hour)
		rewriteCreated(t, keyPath(dir, old.CurrentID()), future)
		added, err := AddKey(dir)
		if err != nil {
			t.Fatalf("AddKey: %v", err)
		}
		if got := mustLoadKeys(t, dir).CurrentID(); got != added.CurrentID() || got == old.CurrentID() {
			t.Errorf("CurrentID() = %s, want the added key %s", got, added.CurrentID())
		}
	})

	t.Run("DeletedKeyNoLongerVerifies", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		old := mustLoadKeys(t, dir)
		oldTok := mustMint(t, NewTokens(old))
		added, err := AddKey(dir)
		if err != nil {
			t.Fatalf("AddKey: %v", err)
		}
		newTok := mustMint(t, NewTokens(added))
		if err := os.Remove(keyPath(dir, old.CurrentID())); err != nil {
			t.Fatal(err)
		}
		tokens := NewTokens(mustLoadKeys(t, dir))
		if _, err := tokens.Verify(oldTok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify(token of deleted key) = %v, want ErrInvalidToken", err)
		}
		if _, err := tokens.Verify(newTok); err != nil {
			t.Errorf("Verify(token of kept key) = %v, want nil", err)
		}
	})
}

// rewriteCreated rewrites the Created header of a key file in place.
func rewriteCreated(t *testing.T, path string, created time.Time) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	block.Headers[pemCreatedHeader] = created.UTC().Format(time.RFC3339Nano)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (os.ModeDir | os.ModePerm); got != want {
		t.Errorf("mode of %s = %v, want %v", path, got, want)
	}
}
