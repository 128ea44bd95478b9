package sync

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// Cursor is a client's position in its scopes' logs: the last seq it has
// seen in each scope, and the epoch of the store that gave it. The zero
// Cursor means "nothing seen".
type Cursor struct {
	Epoch [16]byte
	Seqs  map[string]uint64
}

// Cursor limits: a client has a handful of scopes.
const (
	maxCursorScopes = 256
	maxCursorLen    = 16 << 10
	cursorVersion   = 1
)

// Encode returns the cursor as an opaque URL-safe token. Scopes are written
// in sorted order, so equal cursors encode equally.
func (c Cursor) Encode() string {
	b := []byte{cursorVersion}
	b = append(b, c.Epoch[:]...)
	b = binary.AppendUvarint(b, uint64(len(c.Seqs)))
	for _, sc := range sortedKeys(c.Seqs) {
		b = appendString(b, sc)
		b = binary.AppendUvarint(b, c.Seqs[sc])
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a token made by Encode. The empty token is the zero
// Cursor. Anything else malformed returns an error wrapping ErrBadCursor.
func DecodeCursor(token string) (Cursor, error) {
	c := Cursor{Seqs: map[string]uint64{}}
	if token == "" {
		return c, nil
	}
	if len(token) > maxCursorLen {
		return c, fmt.Errorf("%w: too long", ErrBadCursor)
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return c, fmt.Errorf("%w: not base64url", ErrBadCursor)
	}
	if len(b) < 1+len(c.Epoch) || b[0] != cursorVersion {
		return c, fmt.Errorf("%w: unknown version", ErrBadCursor)
	}
	copy(c.Epoch[:], b[1:])
	d := decoder{b: b[1+len(c.Epoch):]}
	n := d.uvarint()
	if n > maxCursorScopes {
		return c, fmt.Errorf("%w: too many scopes", ErrBadCursor)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		sc := string(d.bytes())
		seq := d.uvarint()
		if _, dup := c.Seqs[sc]; dup || !validName(sc) {
			d.fail()
		}
		c.Seqs[sc] = seq
	}
	if err := d.done("cursor"); err != nil {
		return Cursor{Seqs: map[string]uint64{}}, fmt.Errorf("%w: %v", ErrBadCursor, err)
	}
	return c, nil
}
