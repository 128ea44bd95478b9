package sync

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Record encodings. ON-DISK FORMAT: every record starts with a version byte
// (1); fields are uvarints and uvarint-length-prefixed byte strings.

const recordVersion = 1

// decoder reads a record; the first malformed read sticks as err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) version() {
	if d.uvarint() != recordVersion {
		d.fail()
	}
}

func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return fmt.Errorf("decode %s: %w", what, d.err)
	}
	return nil
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// --- results and client records ---

func appendResult(b []byte, r Result) []byte {
	b = binary.AppendUvarint(b, r.ID)
	b = binary.AppendUvarint(b, uint64(r.Status))
	b = appendString(b, r.Reason)
	return appendString(b, r.Message)
}

func (d *decoder) result() Result {
	return Result{
		ID:      d.uvarint(),
		Status:  Status(d.uvarint()),
		Reason:  string(d.bytes()),
		Message: string(d.bytes()),
	}
}

// Outcome records (R keys) hold the outcomes of consecutive mutation ids,
// from the id in their key: version 1 records (written by older releases)
// one outcome, with its id; version 2 records a push's, the count then each
// outcome's status, reason and message.
const outcomesVersion = 2

// encodeOutcomes encodes results, whose ids are consecutive.
func encodeOutcomes(results []Result) []byte {
	b := []byte{outcomesVersion}
	b = binary.AppendUvarint(b, uint64(len(results)))
	for _, r := range results {
		b = binary.AppendUvarint(b, uint64(r.Status))
		b = appendString(b, r.Reason)
		b = appendString(b, r.Message)
	}
	return b
}

// decodeOutcomes decodes the record of the R key whose id is first.
func decodeOutcomes(first uint64, b []byte) ([]Result, error) {
	d := decoder{b: b}
	switch d.uvarint() {
	case recordVersion:
		r := d.result()
		if d.err == nil && r.ID != first {
			d.fail()
		}
		return []Result{r}, d.done("outcome")
	case outcomesVersion:
		n := d.uvarint()
		if n == 0 || n > uint64(len(d.b)) {
			d.fail()
		}
		out := make([]Result, 0, min(n, 1<<16))
		for i := uint64(0); i < n && d.err == nil; i++ {
			out = append(out, Result{ID: first + i, Status: Status(d.uvarint()), Reason: string(d.bytes()), Message: string(d.bytes())})
		}
		return out, d.done("outcomes")
	}
	d.fail()
	return nil, d.done("outcomes")
}

// clientRecord is what the store keeps per client besides its outcomes.
type clientRecord struct {
	last     uint64
	stateSeq uint64 // where the client's state stands in its user's scope; 0 before the first push
	// kept is the first id of the oldest outcome record kept (0: not known,
	// as in records older releases wrote).
	kept   uint64
	recent []Result
}

// clone returns a copy of c that shares nothing with it.
func (c clientRecord) clone() clientRecord {
	c.recent = slices.Clone(c.recent)
	return c
}

func encodeClient(c clientRecord) []byte {
	b := []byte{recordVersion}
	b = binary.AppendUvarint(b, c.last)
	b = binary.AppendUvarint(b, c.stateSeq)
	b = binary.AppendUvarint(b, uint64(len(c.recent)))
	for _, r := range c.recent {
		b = appendResult(b, r)
	}
	return binary.AppendUvarint(b, c.kept)
}

// encodeClientState is the engine's own encoding of a published client
// state: a client record's fields as releases before outcome records had
// them.
func encodeClientState(c ClientState) []byte {
	b := []byte{recordVersion}
	b = binary.AppendUvarint(b, c.LastMutationID)
	b = binary.AppendUvarint(b, 0)
	b = binary.AppendUvarint(b, uint64(len(c.Recent)))
	for _, r := range c.Recent {
		b = appendResult(b, r)
	}
	return b
}

// decodeClientLast reads only a client record's last mutation id, for
// callers that need nothing else (every Push asks): the recent outcomes
// that follow are neither decoded nor checked.
func decodeClientLast(b []byte) (uint64, error) {
	d := decoder{b: b}
	d.version()
	last := d.uvarint()
	if d.err != nil {
		return 0, fmt.Errorf("decode client: %w", d.err)
	}
	return last, nil
}

func decodeClient(b []byte) (clientRecord, error) {
	d := decoder{b: b}
	d.version()
	c := clientRecord{last: d.uvarint(), stateSeq: d.uvarint()}
	n := d.uvarint()
	if n > RecentResults {
		d.fail()
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		c.recent = append(c.recent, d.result())
	}
	if len(d.b) > 0 {
		c.kept = d.uvarint()
	}
	return c, d.done("client")
}

// --- entities ---

// placement is where an entity currently stands in one scope's log.
type placement struct {
	scope       string
	seq         uint64
	tombstoneAt uint64 // unix milli of the tombstone; 0 while visible
}

// entityRecord is an entity's canonical value and its placements.
type entityRecord struct {
	deleted    bool
	canonical  []byte
	placements []placement
}

func encodeEntity(e entityRecord) []byte {
	b := []byte{recordVersion}
	var flags uint64
	if e.deleted {
		flags = 1
	}
	b = binary.AppendUvarint(b, flags)
	b = appendBytes(b, e.canonical)
	b = binary.AppendUvarint(b, uint64(len(e.placements)))
	for _, p := range e.placements {
		b = appendString(b, p.scope)
		b = binary.AppendUvarint(b, p.seq)
		b = binary.AppendUvarint(b, p.tombstoneAt)
	}
	return b
}

func decodeEntity(b []byte) (entityRecord, error) {
	d := decoder{b: b}
	d.version()
	e := entityRecord{deleted: d.uvarint() == 1}
	e.canonical = d.bytes()
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		e.placements = append(e.placements, placement{
			scope:       string(d.bytes()),
			seq:         d.uvarint(),
			tombstoneAt: d.uvarint(),
		})
	}
	return e, d.done("entity")
}

// --- log entries ---

// logEntry is one change in a scope's log.
type logEntry struct {
	entityID string
	deleted  bool
	// canonical says the scope's projection is the entity's canonical
	// value, kept once in its entity record instead of in the entry.
	canonical bool
	atMilli   uint64 // commit time
	value     []byte // the scope's projection; nil for a tombstone or a canonical entry
}

// Log entry flags. ON-DISK FORMAT: never change or reuse a bit.
const (
	logFlagDeleted   = 1 << 0 // a tombstone
	logFlagCanonical = 1 << 1 // the value is the entity record's canonical (since store format 1, later stores)
)

func encodeLogEntry(e logEntry) []byte {
	b := make([]byte, 0, 16+len(e.entityID)+len(e.value))
	b = append(b, recordVersion)
	var flags uint64
	if e.deleted {
		flags |= logFlagDeleted
	}
	if e.canonical {
		flags |= logFlagCanonical
	}
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendUvarint(b, e.atMilli)
	b = appendString(b, e.entityID)
	return appendBytes(b, e.value)
}

func decodeLogEntry(b []byte) (logEntry, error) {
	d := decoder{b: b}
	d.version()
	flags := d.uvarint()
	if flags&^(logFlagDeleted|logFlagCanonical) != 0 || flags == logFlagDeleted|logFlagCanonical {
		d.fail()
	}
	e := logEntry{deleted: flags&logFlagDeleted != 0, canonical: flags&logFlagCanonical != 0, atMilli: d.uvarint()}
	e.entityID = string(d.bytes())
	e.value = d.bytes()
	if e.canonical && len(e.value) != 0 {
		d.fail()
	}
	return e, d.done("log entry")
}

// --- heads ---

// scopeHead is a scope's newest seq and its low-water mark: a cursor below
// lwm may have missed a dropped tombstone and must reset.
type scopeHead struct {
	head uint64
	lwm  uint64
}

func encodeHead(h scopeHead) []byte {
	b := make([]byte, 0, 16)
	b = binary.BigEndian.AppendUint64(b, h.head)
	return binary.BigEndian.AppendUint64(b, h.lwm)
}

func decodeHead(b []byte) (scopeHead, error) {
	if len(b) != 16 {
		return scopeHead{}, fmt.Errorf("decode head: %w", ErrCorrupt)
	}
	return scopeHead{head: binary.BigEndian.Uint64(b), lwm: binary.BigEndian.Uint64(b[8:])}, nil
}
