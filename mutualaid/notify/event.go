package notify

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	linlisync "github.com/linli/linli/sync"
)

// Event types, as notifications carry them (Matrix notification.type, the
// Web Push payload's "type"). ON-DISK FORMAT and wire format: never change
// or reuse one.
const (
	// TypeSuggestion: a new suggestion for an urgent or critical request,
	// to the request's author and the offer's.
	TypeSuggestion = "suggestion"
	// TypeHandoffProposed: a handoff waits for the recipient to accept it.
	TypeHandoffProposed = "handoff_proposed"
	// TypeHandoffAccepted: the other side accepted (or a pre-agreed offer
	// was taken).
	TypeHandoffAccepted = "handoff_accepted"
	// TypeHandoffPickedUp: the items are on their way.
	TypeHandoffPickedUp = "handoff_picked_up"
	// TypeHandoffDroppedOff: the items wait at the drop point.
	TypeHandoffDroppedOff = "handoff_dropped_off"
	// TypeHandoffReceived: the receiver has the items.
	TypeHandoffReceived = "handoff_received"
	// TypeHandoffCancelled: a handoff was called off.
	TypeHandoffCancelled = "handoff_cancelled"
	// TypeCourierNeeded: a handoff in a volunteer's building needs a courier.
	TypeCourierNeeded = "courier_needed"
	// TypeEmergency: emergency signs in a post of a volunteer's building.
	TypeEmergency = "emergency"
	// TypeEmergencyAlert: emergency signs in a post of staff's community.
	TypeEmergencyAlert = "emergency_alert"
	// TypeCaseUpdate: the hotline case of the recipient's request moved.
	TypeCaseUpdate = "case_update"
)

// Types lists every event type, in the order of the docs' table.
var Types = []string{
	TypeSuggestion, TypeHandoffProposed, TypeHandoffAccepted, TypeHandoffPickedUp,
	TypeHandoffDroppedOff, TypeHandoffReceived, TypeHandoffCancelled, TypeCourierNeeded,
	TypeEmergency, TypeEmergencyAlert, TypeCaseUpdate,
}

// Event is something a person must not miss. It holds no text: the app
// pulls for the rest.
type Event struct {
	// Type is one of the Type* constants.
	Type string `json:"type"`
	// Community is the community it happened in.
	Community string `json:"community"`
	// Critical events (emergencies, critical requests) ignore quiet hours
	// and go out with high priority.
	Critical bool `json:"critical,omitempty"`
}

// GroupKind names a group of recipients resolved when the outbox runs.
type GroupKind string

// Groups.
const (
	// GroupVolunteers: the volunteers of Group.Building in Group.Community.
	GroupVolunteers GroupKind = "volunteers"
	// GroupStaff: the staff and admins of Group.Community.
	GroupStaff GroupKind = "staff"
)

// Group is a set of recipients that the domain resolves to users when
// the outbox runs (see OutboxOptions.Resolve).
type Group struct {
	Kind      GroupKind `json:"kind"`
	Community string    `json:"community"`
	Building  string    `json:"building,omitempty"`
}

// Entity id prefixes (see the package documentation). ON-DISK FORMAT.
const (
	pushersPrefix = "pushers/"
	pushkeyPrefix = "pushkey/"
	todoPrefix    = "notify/todo/"
	queuePrefix   = "notify/q/"
	devicePrefix  = "notify/dev/"
)

func pushersID(user string) string { return pushersPrefix + user }
func todoID(event string) string   { return todoPrefix + event }
func queueID(user, client, event string) string {
	return queuePrefix + user + "/" + client + "/" + event
}
func queueOf(user, client string) string  { return queuePrefix + user + "/" + client + "/" }
func deviceID(user, client string) string { return devicePrefix + user + "/" + client }

// queued is an event waiting for one device. ON-DISK FORMAT.
type queued struct {
	Event     string    `json:"event"`
	Type      string    `json:"type"`
	Community string    `json:"community"`
	Critical  bool      `json:"critical,omitempty"`
	At        time.Time `json:"at"`
}

// groupEvent is an event for a group, until the outbox expands it into
// its members' devices. ON-DISK FORMAT.
type groupEvent struct {
	ID    string    `json:"id"`
	Event Event     `json:"event"`
	Group Group     `json:"group"`
	Actor string    `json:"actor,omitempty"`
	At    time.Time `json:"at"`
}

// newEventID returns an event id made at now: 16 hex digits of unix
// milliseconds, "-", 8 random hex digits.
func newEventID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return fmt.Sprintf("%016x-%s", uint64(now.UnixMilli()), hex.EncodeToString(b[:]))
}

// ToUsers records e in tx for every device of users that has a pusher,
// except the user whose mutation tx applies (who is looking at the app),
// so that e is sent if and only if tx commits. Users without a pusher
// cost one read each. Duplicate users are notified once.
//
// Errors: store errors.
func ToUsers(tx *linlisync.Tx, e Event, users ...string) error {
	return toUsers(tx, newEventID(tx.Now()), e, tx.Client().User, tx.Now(), users)
}

// ToGroup records in tx an event for a group, resolved to its members
// when the outbox runs (not in the writer), except the user whose mutation
// tx applies.
//
// Errors: store errors.
func ToGroup(tx *linlisync.Tx, e Event, g Group) error {
	ge := groupEvent{ID: newEventID(tx.Now()), Event: e, Group: g, Actor: tx.Client().User, At: tx.Now()}
	return putJSON(tx, todoID(ge.ID), ge)
}

func toUsers(tx *linlisync.Tx, id string, e Event, actor string, now time.Time, users []string) error {
	var done []string
	for _, u := range users {
		if u == "" || u == actor || slices.Contains(done, u) {
			continue
		}
		done = append(done, u)
		set, err := loadPushers(tx.Get, u)
		if err != nil {
			return err
		}
		for _, p := range set.Devices {
			if err := enqueue(tx, u, p.Client, queued{Event: id, Type: e.Type, Community: e.Community, Critical: e.Critical, At: now}); err != nil {
				return err
			}
		}
	}
	return nil
}

// enqueue records q for one device and makes the device due: at once if
// it waits for nothing (a device in backoff keeps its backoff; a critical
// event ends a wait for quiet hours).
func enqueue(tx *linlisync.Tx, user, client string, q queued) error {
	if err := putJSON(tx, queueID(user, client, q.Event), q); err != nil {
		return err
	}
	st, ok, err := loadState(tx.Get, user, client)
	if err != nil {
		return err
	}
	now := tx.Now()
	switch {
	case !ok:
		st = deviceState{User: user, Client: client, NextAttempt: now}
	case q.Critical && st.Attempts == 0 && st.NextAttempt.After(now):
		st.NextAttempt = now
	default:
		return nil
	}
	st.Updated = now
	return putJSON(tx, deviceID(user, client), st)
}

// putJSON stores v as id's private value.
func putJSON(tx *linlisync.Tx, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("notify: encode %s: %w", id, err)
	}
	return tx.Put(id, b, nil)
}

// getJSON reads id through get into v; ok is false if it does not exist.
func getJSON(get func(string) ([]byte, bool, error), id string, v any) (bool, error) {
	b, ok, err := get(id)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("notify: decode %s: %w", id, err)
	}
	return true, nil
}
