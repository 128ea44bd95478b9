package client

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// rawPage is a PullResponse read without decoding its entities: each
// change keeps its entity as the bytes the server sent, which are exactly
// what the client stores. Reading a page of 10,000 posts this way costs
// one copy of the page instead of building and re-marshalling 10,000
// messages.
type rawPage struct {
	cursor  string
	hasMore bool
	changes []rawChange
	resets  []string // scopes to clear
	dropped []string // scopes to clear
}

// rawChange is one Change; entity is nil for a tombstone.
type rawChange struct {
	scope, entityID string
	seq             uint64
	deleted         bool
	entity          []byte
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

// parseRawPage reads a binary PullResponse. The page's byte slices point
// into b, which the caller must not reuse.
func parseRawPage(b []byte) (*rawPage, error) {
	p := &rawPage{}
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == fieldPullCursor && typ == protowire.BytesType:
			p.cursor = string(v)
		case num == fieldPullHasMore && typ == protowire.VarintType:
			p.hasMore = n != 0
		case num == fieldPullDropped && typ == protowire.BytesType:
			p.dropped = append(p.dropped, string(v))
		case num == fieldPullResets && typ == protowire.BytesType:
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num == fieldResetScope && typ == protowire.BytesType {
					p.resets = append(p.resets, string(v))
				}
				return nil
			})
		case num == fieldPullChanges && typ == protowire.BytesType:
			c, err := parseRawChange(v)
			if err != nil {
				return err
			}
			p.changes = append(p.changes, c)
		}
		return nil
	})
	return p, err
}

func parseRawChange(b []byte) (rawChange, error) {
	var c rawChange
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == fieldChangeScope && typ == protowire.BytesType:
			c.scope = string(v)
		case num == fieldChangeSeq && typ == protowire.VarintType:
			c.seq = n
		case num == fieldChangeEntityID && typ == protowire.BytesType:
			c.entityID = string(v)
		case num == fieldChangeDeleted && typ == protowire.VarintType:
			c.deleted = n != 0
		case num == fieldChangeEntity && typ == protowire.BytesType:
			// A message field may come in parts that the reader merges:
			// concatenating their bytes is the same merge.
			if c.entity == nil {
				c.entity = v
			} else {
				c.entity = append(bytes.Clone(c.entity), v...)
			}
		}
		return nil
	})
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

// rawPullCodec is the binary protobuf codec, except that it reads a
// PullResponse into a *rawPage.
type rawPullCodec struct{}

func (rawPullCodec) Name() string { return "proto" }

func (rawPullCodec) Marshal(msg any) ([]byte, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("client: cannot marshal %T", msg)
	}
	return proto.Marshal(m)
}

func (rawPullCodec) Unmarshal(b []byte, msg any) error {
	switch m := msg.(type) {
	case *rawPage:
		// connect reuses b once Unmarshal returns.
		p, err := parseRawPage(bytes.Clone(b))
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
