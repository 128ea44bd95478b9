package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// keyPrefix names the signing keys in the cluster bucket: "key.<kid>",
// holding the bytes of the node's "<kid>.pem" file.
const keyPrefix = "key."

// ShareKeys makes the folder of signing keys dir (one "<kid>.pem" file a
// key, as package server keeps them) and the cluster's bucket hold the same
// keys: the bucket's keys dir lacks are written into it (mode 0600), and
// dir's keys the bucket lacks are put there. After it has run on every
// node, every node verifies every node's tokens and the newest key signs
// everywhere. Keys are never deleted from the bucket here: deleting a key
// file on one node is undone at its next share (delete it from the bucket
// too, with the nats tool, to retire it everywhere).
//
// Errors: NATS errors; file system errors.
func (n *Node) ShareKeys(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cluster: keys folder: %w", err)
	}
	names, err := n.kv.ListKeysFiltered(ctx, keyPrefix+">")
	if err != nil {
		return fmt.Errorf("cluster: list shared keys: %w", err)
	}
	shared := map[string]bool{}
	for name := range names.Keys() {
		kid := strings.TrimPrefix(name, keyPrefix)
		shared[kid] = true
		path := filepath.Join(dir, kid+".pem")
		if _, err := os.Stat(path); err == nil {
			continue
		}
		e, err := n.kv.Get(ctx, name)
		if err != nil {
			return fmt.Errorf("cluster: shared key %s: %w", kid, err)
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, e.Value(), 0o600); err != nil {
			return fmt.Errorf("cluster: write shared key %s: %w", kid, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("cluster: write shared key %s: %w", kid, err)
		}
		n.log.Info("cluster: signing key from another node", "kid", kid)
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cluster: keys folder: %w", err)
	}
	for _, f := range files {
		kid, ok := strings.CutSuffix(f.Name(), ".pem")
		if !ok || shared[kid] || !f.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			return fmt.Errorf("cluster: read key %s: %w", kid, err)
		}
		if _, err := n.kv.Create(ctx, keyPrefix+kid, b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("cluster: share key %s: %w", kid, err)
		}
	}
	return nil
}
