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
	"time"

	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// Directory is the identity domain: communities and their buildings, join
// codes, members and their roles, and the sessions (devices and refresh
// tokens) members stay signed in with. It is safe for concurrent use.
//
// Every change is one store.Update: a durable transaction run by the
// store's single writer, whose reads and checks happen inside it, so that
// concurrent changes are serialised (two joins racing for the last use of a
// code: exactly one wins). A domain refusal (*Error) leaves no trace.
//
// Entities it writes (ON-DISK FORMAT: never change or reuse an id layout or
// a record's JSON field names):
//
//	entity id                  canonical value            published in
//	community/<c>              linliv1.Entity{Community}  community/<c>
//	building/<c>/<b>           linliv1.Entity{Building}   community/<c>
//	member/<c>/<u>             linliv1.Entity{Member}     user/<u> and staff/<c>; staff/<c> only once removed
//	joincode/<sha256 of code>  joinCodeRecord (JSON)      staff/<c>: linliv1.Entity{JoinCode}, never the code
//	device/<u>/<client>        deviceRecord (JSON)        user/<u>: linliv1.Entity{Device}
//	devices/<u>                deviceIndex (JSON)         nowhere (lists the user's clients)
//	refresh/<sha256 of token>  refreshRecord (JSON)       nowhere
//
// Join codes and refresh tokens are stored only as SHA-256 hashes: the
// store never holds a secret that would let its reader sign in.
type Directory struct {
	store *linlisync.Store
	now   func() time.Time
}

// NewDirectory returns the directory over store. now is the clock deciding
// expiries and timestamps; nil means time.Now.
//
// REQUIRES: store non-nil and opened with Options.EncodeClientState set to
// EncodeClientState (so that user scopes decode as linliv1.Entity).
func NewDirectory(store *linlisync.Store, now func() time.Time) *Directory {
	if now == nil {
		now = time.Now
	}
	return &Directory{store: store, now: now}
}

// Limits on directory input. Lengths of text are counted in runes.
const (
	maxPlaceNameLen = 80 // community and building names, district, street office, drop point
	maxDropPoints   = 20 // per building
)

// Entity ids of the directory.
func communityEntityID(c string) string   { return "community/" + c }
func buildingEntityID(c, b string) string { return "building/" + c + "/" + b }
func memberEntityID(c, u string) string   { return "member/" + c + "/" + u }
func deviceEntityID(u, client string) string {
	return "device/" + u + "/" + client
}
func deviceIndexID(u string) string       { return "devices/" + u }
func joinCodeEntityID(hash string) string { return "joincode/" + hash }
func refreshEntityID(hash string) string  { return "refresh/" + hash }

// update runs fn as one durable transaction. A domain *Error is returned as
// it is; any other error is wrapped with op.
func (d *Directory) update(ctx context.Context, op string, fn func(tx *linlisync.Tx) error) error {
	return update(ctx, d.store, op, fn)
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
// the directory puts in an entity id.
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
