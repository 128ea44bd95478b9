package server

import (
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrKeyNotFound is returned by KeySet.PublicKey for a key id not in the set.
var ErrKeyNotFound = errors.New("server: unknown key id")

// keysDirName is the folder under the data folder holding signing keys.
const keysDirName = "keys"

// pemCreatedHeader names the PEM header recording when a key was created.
const pemCreatedHeader = "Created"

// KeySet holds the Ed25519 keys that sign and verify tokens, by key id
// (kid), and the id of the current signing key.
//
// ON-DISK FORMAT: <dataDir>/keys/ (mode 0700) holds one file per key, named
// <kid>.pem, where kid is 16 lowercase hex characters. Each file (mode 0600)
// holds one PEM block of type "PRIVATE KEY" (PKCS#8) with a header
// "Created: <RFC 3339 time with nanoseconds>". The current key is the one
// created last (ties broken by the greater kid); a file without the header
// counts as created at its modification time. Files not ending in ".pem"
// (such as leftover temporary files) are ignored.
//
// A KeySet is immutable once loaded and safe for concurrent use. Every key in
// the set verifies tokens; only the current one signs.
type KeySet struct {
	keys    map[string]ed25519.PrivateKey
	current string
}

// LoadOrCreateKeys loads every key in <dataDir>/keys/, creating the folder
// and a first key if there are none.
//
// Errors (wrapped as "load keys: …"): the folder cannot be created or read,
// the folder or a key file is readable by group or others, a key file is
// not a regular file, is misnamed, or does not hold a PKCS#8 Ed25519 key.
func LoadOrCreateKeys(dataDir string) (*KeySet, error) {
	ks, err := loadKeys(dataDir)
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	if len(ks.keys) > 0 {
		return ks.KeySet, nil
	}
	if _, err := writeNewKey(keysDir(dataDir), time.Now()); err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	ks, err = loadKeys(dataDir)
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	return ks.KeySet, nil
}

// AddKey writes a new key to <dataDir>/keys/ and returns the reloaded set,
// in which the new key is current and every older key still verifies. The
// new key is recorded as created after every existing key even if the clock
// went backwards.
//
// Errors (wrapped as "add key: …"): those of LoadOrCreateKeys, and failure
// to write the new key file.
func AddKey(dataDir string) (*KeySet, error) {
	ks, err := loadKeys(dataDir)
	if err != nil {
		return nil, fmt.Errorf("add key: %w", err)
	}
	created := time.Now()
	if newest := ks.newestCreated; !newest.IsZero() && !created.After(newest) {
		created = newest.Add(time.Nanosecond)
	}
	if _, err := writeNewKey(keysDir(dataDir), created); err != nil {
		return nil, fmt.Errorf("add key: %w", err)
	}
	ks, err = loadKeys(dataDir)
	if err != nil {
		return nil, fmt.Errorf("add key: %w", err)
	}
	return ks.KeySet, nil
}

// CurrentID returns the id of the key that signs new tokens.
func (ks *KeySet) CurrentID() string { return ks.current }

// IDs returns the ids of every key in the set, sorted.
func (ks *KeySet) IDs() []string {
	ids := make([]string, 0, len(ks.keys))
	for kid := range ks.keys {
		ids = append(ids, kid)
	}
	slices.Sort(ids)
	return ids
}

// PublicKey returns the public half of the key with the given id.
//
// Errors: ErrKeyNotFound if the set holds no such key.
func (ks *KeySet) PublicKey(kid string) (ed25519.PublicKey, error) {
	k, ok := ks.keys[kid]
	if !ok {
		return nil, ErrKeyNotFound
	}
	return k.Public().(ed25519.PublicKey), nil
}

// signer returns the current key id and private key.
func (ks *KeySet) signer() (string, ed25519.PrivateKey) {
	return ks.current, ks.keys[ks.current]
}

// loadedKeys is a KeySet plus the creation time of its newest key.
type loadedKeys struct {
	*KeySet
	newestCreated time.Time
}

func keysDir(dataDir string) string { return filepath.Join(dataDir, keysDirName) }

// loadKeys creates the keys folder if needed and reads every key in it.
func loadKeys(dataDir string) (loadedKeys, error) {
	dir := keysDir(dataDir)
	if err := ensureKeysDir(dir); err != nil {
		return loadedKeys{}, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return loadedKeys{}, err
	}
	lk := loadedKeys{KeySet: &KeySet{keys: make(map[string]ed25519.PrivateKey)}}
	for _, e := range entries {
		kid, ok := strings.CutSuffix(e.Name(), ".pem")
		if !ok {
			continue
		}
		key, created, err := readKeyFile(filepath.Join(dir, e.Name()), kid)
		if err != nil {
			return loadedKeys{}, err
		}
		lk.keys[kid] = key
		if c := created.Compare(lk.newestCreated); c > 0 || (c == 0 && kid > lk.current) {
			lk.current, lk.newestCreated = kid, created
		}
	}
	return lk, nil
}

// ensureKeysDir creates dir with mode 0700 and refuses it if group or
// others have any access.
func ensureKeysDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s: mode %#o is wider than 0700", dir, perm)
	}
	return nil
}

// readKeyFile reads and checks one key file.
func readKeyFile(path, kid string) (ed25519.PrivateKey, time.Time, error) {
	if !validKeyID(kid) {
		return nil, time.Time{}, fmt.Errorf("%s: file name is not <16 hex digits>.pem", path)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, time.Time{}, fmt.Errorf("%s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&^0o600 != 0 {
		return nil, time.Time{}, fmt.Errorf("%s: mode %#o is wider than 0600", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	key, created, err := decodeKey(data)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	if created.IsZero() {
		created = fi.ModTime()
	}
	return key, created, nil
}

// decodeKey parses a PEM-encoded PKCS#8 Ed25519 key and its optional
// creation time (zero if absent).
func decodeKey(data []byte) (ed25519.PrivateKey, time.Time, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, time.Time{}, errors.New("no PEM block of type PRIVATE KEY")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, time.Time{}, err
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, time.Time{}, fmt.Errorf("key is %T, not Ed25519", parsed)
	}
	var created time.Time
	if s, ok := block.Headers[pemCreatedHeader]; ok {
		if created, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, time.Time{}, fmt.Errorf("bad %s header: %w", pemCreatedHeader, err)
		}
	}
	return key, created, nil
}

// validKeyID reports whether kid is 16 lowercase hex characters.
func validKeyID(kid string) bool {
	if len(kid) != 16 {
		return false
	}
	return !strings.ContainsFunc(kid, func(r rune) bool {
		return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f')
	})
}

// newKeyID returns 16 random hex characters.
func newKeyID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails; crashes the program instead
	return hex.EncodeToString(b)
}

// writeNewKey generates a key and writes it atomically to dir as <kid>.pem.
func writeNewKey(dir string, created time.Time) (string, error) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("marshal key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{
		Type:    "PRIVATE KEY",
		Headers: map[string]string{pemCreatedHeader: created.UTC().Format(time.RFC3339Nano)},
		Bytes:   der,
	})
	kid := newKeyID()
	if err := writeFileAtomic(filepath.Join(dir, kid+".pem"), data); err != nil {
		return "", fmt.Errorf("write key: %w", err)
	}
	return kid, nil
}

// writeFileAtomic writes data to path with mode 0600 through a temporary
// file in the same folder: write, fsync, rename, fsync the folder. It
// refuses to replace an existing file.
func writeFileAtomic(path string, data []byte) (err error) {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return cmp.Or(err, fmt.Errorf("%s: %w", path, fs.ErrExist))
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a folder so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}
