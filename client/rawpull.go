package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
)

// A Pull page is read without decoding its entities: each entity is stored
// as the bytes the server sent, so the page's response is read straight
// into the Pebble batch that stores it (scopes to clear first, then the
// changes in order). Reading a page of 10,000 posts this way costs one copy
// of the page instead of building and re-marshalling 10,000 messages.

// rawPage is one page, read and ready to be stored.
type rawPage struct {
	cursor  string
	hasMore bool
	changes int
	batch   *pebble.Batch          // the page's writes; nil if the page is only parsed
	states  []*linliv1.ClientState // this device's own client states in the page
}

// close releases the page's batch if it was not stored.
func (p *rawPage) close() {
	if p.batch != nil {
		p.batch.Close()
		p.batch = nil
	}
}

// Field numbers of linli.v1.PullResponse, Change and ScopeReset.
const (
	fieldPullCursor  = 1
	fieldPullChanges = 2
	fieldPullHasMore = 3
	fieldPullResets  = 4
	fieldPullDropped = 5

	fieldChangeScope    = 1
	fieldChangeSeq      = 2
	fieldChangeEntityID = 3
	fieldChangeDeleted  = 4
	fieldChangeEntity   = 5

	fieldResetScope = 1
)

var errBadPage = errors.New("client: malformed pull response")

// rawChange is one Change as read; entity is nil for a tombstone.
type rawChange struct {
	scope, entityID []byte
	seq             uint64
	deleted         bool
	entity          []byte
}

// pageVisitor receives a PullResponse's parts as they are read. The byte
// slices point into the response and live only during the call.
type pageVisitor struct {
	cursor  func(string)
	hasMore func(bool)
	clear   func(scope []byte) // a reset or dropped scope
	change  func(rawChange) error
}

// walkPage reads a binary PullResponse: first the scopes to clear, wherever
// they are in the message, then everything else in order.
func walkPage(b []byte, v pageVisitor) error {
	err := eachField(b, func(num protowire.Number, typ protowire.Type, f []byte, _ uint64) error {
		switch {
		case num == fieldPullDropped && typ == protowire.BytesType:
			v.clear(f)
		case num == fieldPullResets && typ == protowire.BytesType:
			return eachField(f, func(num protowire.Number, typ protowire.Type, f []byte, _ uint64) error {
				if num == fieldResetScope && typ == protowire.BytesType {
					v.clear(f)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return eachField(b, func(num protowire.Number, typ protowire.Type, f []byte, n uint64) error {
		switch {
		case num == fieldPullCursor && typ == protowire.BytesType:
			v.cursor(string(f))
		case num == fieldPullHasMore && typ == protowire.VarintType:
			v.hasMore(n != 0)
		case num == fieldPullChanges && typ == protowire.BytesType:
			c, err := parseChange(f)
			if err != nil {
				return err
			}
			return v.change(c)
		}
		return nil
	})
}

func parseChange(b []byte) (rawChange, error) {
	var c rawChange
	var parts [][]byte
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == fieldChangeScope && typ == protowire.BytesType:
			c.scope = v
		case num == fieldChangeSeq && typ == protowire.VarintType:
			c.seq = n
		case num == fieldChangeEntityID && typ == protowire.BytesType:
			c.entityID = v
		case num == fieldChangeDeleted && typ == protowire.VarintType:
			c.deleted = n != 0
		case num == fieldChangeEntity && typ == protowire.BytesType:
			parts = append(parts, v)
		}
		return nil
	})
	switch len(parts) {
	case 0:
	case 1:
		c.entity = parts[0]
	default:
		// A message field may come in parts that a reader merges:
		// concatenating their bytes is the same merge.
		for _, p := range parts {
			c.entity = append(c.entity, p...)
		}
	}
	return c, err
}

// eachField calls fn with every field of the message in b: its number,
// wire type, and its bytes (length-delimited) or value (varint).
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return fmt.Errorf("%w: %v", errBadPage, protowire.ParseError(k))
		}
		b = b[k:]
		var (
			v []byte
			n uint64
		)
		switch typ {
		case protowire.BytesType:
			v, k = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			n, k = protowire.ConsumeVarint(b)
		default:
			k = protowire.ConsumeFieldValue(num, typ, b)
		}
		if k < 0 {
			return fmt.Errorf("%w: %v", errBadPage, protowire.ParseError(k))
		}
		b = b[k:]
		if err := fn(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

// maxRetainedBatch is the largest page batch whose buffer is kept for the
// next page.
const maxRetainedBatch = 32 << 20

// readPage reads a page into a new batch of the client's store: scopes
// cleared, then each change stored under (scope, entity id) as sent, or
// deleted.
func (c *Client) readPage(b []byte) (*rawPage, error) {
	p := &rawPage{batch: c.db.NewBatch(pebble.WithInitialSizeBytes(len(b)+len(b)/8+1024), pebble.WithMaxRetainedSizeBytes(maxRetainedBatch))}
	own := "/" + c.cfg.ClientID
	key := make([]byte, 0, 256)
	err := walkPage(b, pageVisitor{
		cursor:  func(s string) { p.cursor = s },
		hasMore: func(more bool) { p.hasMore = more },
		clear: func(scope []byte) {
			lo, hi := scopeBounds(string(scope))
			_ = p.batch.DeleteRange(lo, hi, nil)
		},
		change: func(ch rawChange) error {
			p.changes++
			key = append(append(append(append(key[:0], prefixEntity...), ch.scope...), 0), ch.entityID...)
			if ch.deleted || ch.entity == nil {
				return p.batch.Delete(key, nil)
			}
			if err := p.batch.Set(key, ch.entity, nil); err != nil {
				return err
			}
			if id := string(ch.entityID); strings.HasPrefix(id, "client/") && strings.HasSuffix(id, own) {
				var e linliv1.Entity
				if err := proto.Unmarshal(ch.entity, &e); err != nil {
					return fmt.Errorf("client: decode %s: %w", id, err)
				}
				if cs := e.GetClientState(); cs.GetClientId() == c.cfg.ClientID {
					p.states = append(p.states, cs)
				}
			}
			return nil
		},
	})
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// rawPullCodec is the binary protobuf codec, except that it reads a
// PullResponse into a rawPage of its client's store.
type rawPullCodec struct{ c *Client }

func (rawPullCodec) Name() string { return "proto" }

func (rawPullCodec) Marshal(msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("client: cannot marshal %T", msg)
	}
	return proto.Marshal(m)
}

func (r rawPullCodec) Unmarshal(b []byte, msg any) error {
	switch m := msg.(type) {
	case *rawPage:
		p, err := r.c.readPage(b) // copies what it keeps: connect reuses b
		if err != nil {
			return err
		}
		*m = *p
		return nil
	case proto.Message:
		return proto.Unmarshal(b, m)
	}
	return fmt.Errorf("client: cannot unmarshal into %T", msg)
}
