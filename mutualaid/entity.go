package mutualaid

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Limits on directory input. Lengths of text are counted in runes.
const (
	maxPlaceNameLen = 80 // community and building names, district, street office, drop point
	maxDropPoints   = 20 // per building
)

// update runs fn as one durable transaction. A domain *Error is returned as
// it is; any other error is wrapped with op.
func (s *Service) update(ctx context.Context, op string, fn func(tx *linlisync.Tx) error) error {
	return update(ctx, s.store, op, fn)
}

// update runs fn as one durable transaction on store. A domain *Error is
// returned as it is; any other error is wrapped with op.
func update(ctx context.Context, store *linlisync.Store, op string, fn func(tx *linlisync.Tx) error) error {
	err := store.Update(ctx, fn)
	if err == nil {
		return nil
	}
	if _, domain := errors.AsType[*Error](err); domain {
		return err
	}
	return fmt.Errorf("mutualaid: %s: %w", op, err)
}

// getEntity reads and decodes a linliv1.Entity through get (a Tx's or the
// store's Get). ok is false if it does not exist.
func getEntity(get func(string) ([]byte, bool, error), id string) (*linliv1.Entity, bool, error) {
	b, ok, err := get(id)
	if err != nil || !ok {
		return nil, false, err
	}
	var e linliv1.Entity
	if err := proto.Unmarshal(b, &e); err != nil {
		return nil, false, fmt.Errorf("mutualaid: decode %s: %w", id, err)
	}
	return &e, true, nil
}

// getJSON reads and decodes a private JSON record into v. ok is false if it
// does not exist.
func getJSON(get func(string) ([]byte, bool, error), id string, v any) (bool, error) {
	b, ok, err := get(id)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("mutualaid: decode %s: %w", id, err)
	}
	return true, nil
}

// putJSON stores v as id's canonical value, published in views.
func putJSON(tx *linlisync.Tx, id string, v any, views map[string][]byte) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("mutualaid: encode %s: %w", id, err)
	}
	return tx.Put(id, b, views)
}

// marshalAny marshals linliv1.Entity e deterministically.
func marshalAny(id string, e *linliv1.Entity) ([]byte, error) {
	b, err := deterministic.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("mutualaid: marshal %s: %w", id, err)
	}
	return b, nil
}

// putEntity stores e as id's canonical value and publishes the same bytes
// in each of scopes.
func putEntity(tx *linlisync.Tx, id string, e *linliv1.Entity, scopes ...string) error {
	b, err := marshalAny(id, e)
	if err != nil {
		return err
	}
	views := make(map[string][]byte, len(scopes))
	for _, sc := range scopes {
		views[sc] = b
	}
	return tx.Put(id, b, views)
}

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// secretHash is the hex SHA-256 of a secret: how join codes and refresh
// tokens are named in the store.
func secretHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// validID reports whether s is 1-64 of [A-Za-z0-9_-], the shape of every id
// the domain puts in an entity id.
func validID(s string) bool {
	return s != "" && len(s) <= maxIDLen && allBytes(s, isIDByte)
}

// requiredText checks free text that must not be empty or blank.
func (v *validator) requiredText(field, name, s string, max int) {
	if strings.TrimSpace(s) == "" && cleanText(s, false) {
		label := strings.ReplaceAll(name, "_", " ")
		v.fail(field, name+"_required", fmt.Sprintf("The %s is missing.", label))
		return
	}
	v.text(field, name, s, max, false)
}
