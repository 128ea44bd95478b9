package server

import (
	gosync "sync"
	"sync/atomic"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	linliv1 "github.com/linli/linli/proto/gen/linli/v1"
	linlisync "github.com/linli/linli/sync"
)

// A Pull page carries up to 10,000 entities that the store holds already
// marshalled as linli.v1.Entity. Decoding each into a message only for the
// codec to marshal it again cost a quarter of Pull's time, so the page's
// changes are written straight in protobuf's wire form and attached to the
// response as its unknown fields: the binary codec writes them out as
// they are, and a reader sees repeated Change messages (field 2) like any
// other. The JSON codec (jsonCodec) reads them back into messages first.
//
// The wire form of a page (megabytes) is written into a buffer lent from a
// pool, and the codec gives the buffer back once it has marshalled the
// response: a response with changes is marshalled exactly once, by a codec
// of this package, and not used after (connect's unary handlers do so).
// Growing a fresh buffer for every page cost forty times the copying.

// Field numbers of linli.v1.PullResponse.changes and of linli.v1.Change.
const (
	fieldPullChanges    protowire.Number = 2
	fieldChangeScope    protowire.Number = 1
	fieldChangeSeq      protowire.Number = 2
	fieldChangeEntityID protowire.Number = 3
	fieldChangeDeleted  protowire.Number = 4
	fieldChangeEntity   protowire.Number = 5
)

// appendChange appends c as one PullResponse.changes element.
func appendChange(b []byte, c linlisync.Change) []byte {
	size := protowire.SizeTag(fieldChangeScope) + protowire.SizeBytes(len(c.Scope)) +
		protowire.SizeTag(fieldChangeSeq) + protowire.SizeVarint(c.Seq) +
		protowire.SizeTag(fieldChangeEntityID) + protowire.SizeBytes(len(c.EntityID))
	if c.Deleted {
		size += protowire.SizeTag(fieldChangeDeleted) + 1
	} else {
		size += protowire.SizeTag(fieldChangeEntity) + protowire.SizeBytes(len(c.Value))
	}
	b = protowire.AppendTag(b, fieldPullChanges, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = protowire.AppendTag(b, fieldChangeScope, protowire.BytesType)
	b = protowire.AppendString(b, c.Scope)
	b = protowire.AppendTag(b, fieldChangeSeq, protowire.VarintType)
	b = protowire.AppendVarint(b, c.Seq)
	b = protowire.AppendTag(b, fieldChangeEntityID, protowire.BytesType)
	b = protowire.AppendString(b, c.EntityID)
	if c.Deleted {
		b = protowire.AppendTag(b, fieldChangeDeleted, protowire.VarintType)
		return protowire.AppendVarint(b, 1)
	}
	b = protowire.AppendTag(b, fieldChangeEntity, protowire.BytesType)
	return protowire.AppendBytes(b, c.Value)
}

// pageBuffers are the buffers pages are written into; lentPages are those
// lent out, by the address of their first byte, until a codec gives them
// back.
var (
	pageBuffers = gosync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
	lentPages   gosync.Map
	lentCount   atomic.Int64
)

// maxPooledPage is the largest buffer kept for reuse.
const maxPooledPage = 32 << 20

// borrowPage returns an empty buffer for a page.
func borrowPage() *[]byte {
	b := pageBuffers.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// lendPage records that b now backs a response's changes.
func lendPage(b *[]byte) {
	if len(*b) == 0 {
		pageBuffers.Put(b)
		return
	}
	if lentCount.Add(1) > 10_000 { // responses never marshalled: forget them
		lentPages.Clear()
		lentCount.Store(1)
	}
	lentPages.Store(unsafe.SliceData(*b), b)
}

// releasePage gives back the buffer behind a marshalled response's changes.
func releasePage(m proto.Message) {
	res, ok := m.(*linliv1.PullResponse)
	if !ok {
		return
	}
	raw := res.ProtoReflect().GetUnknown()
	if len(raw) == 0 {
		return
	}
	if b, ok := lentPages.LoadAndDelete(unsafe.SliceData(raw)); ok {
		lentCount.Add(-1)
		res.ProtoReflect().SetUnknown(nil)
		if buf := b.(*[]byte); cap(*buf) <= maxPooledPage {
			pageBuffers.Put(buf)
		}
	}
}

// pageResponse is the PullResponse of a page whose changes were appended
// in wire form to changes.
func pageResponse(page linlisync.Page, changes []byte) *linliv1.PullResponse {
	out := &linliv1.PullResponse{
		Cursor:        page.Cursor.Encode(),
		HasMore:       page.HasMore,
		DroppedScopes: page.Dropped,
	}
	for _, r := range page.Resets {
		out.Resets = append(out.Resets, &linliv1.ScopeReset{Scope: r.Scope, Reason: linliv1.ResetReason(r.Reason)})
	}
	if len(changes) > 0 {
		out.ProtoReflect().SetUnknown(protoreflect.RawFields(changes))
	}
	return out
}

// materialize returns m with changes held in wire form read back into
// messages, for codecs that do not write unknown fields (JSON).
func materialize(m proto.Message) (proto.Message, error) {
	res, ok := m.(*linliv1.PullResponse)
	if !ok || len(res.ProtoReflect().GetUnknown()) == 0 {
		return m, nil
	}
	b, err := proto.Marshal(res)
	if err != nil {
		return nil, err
	}
	out := &linliv1.PullResponse{}
	return out, proto.Unmarshal(b, out)
}
