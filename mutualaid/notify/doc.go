// Package notify tells people what they must not miss while their app is
// closed: a suggestion for an urgent request, a handoff proposed to them,
// accepted, picked up or dropped off, an emergency or a courier needed in
// the building a volunteer serves, a hotline case's progress, and, for
// staff, an emergency alert.
//
// A change that causes an event records it in the same transaction
// (ToUsers, ToGroup): one entry per device that has a pusher, so the event
// is sent if and only if the change commits. The Outbox, run by the
// domain service's notify job, sends each device's waiting events as one
// notification (coalesced: the latest type and how many) to the
// operator's push gateway in the Matrix Push Gateway API's format, or by
// Web Push (RFC 8030, VAPID, RFC 8291 encryption) to a browser. It records
// every notification before sending it and sends it again, with the same
// id, until an answer comes, so a gateway that dedupes on the id
// (notification.event_id; a Web Push Topic) shows each event once, across
// lost answers, outages and a process killed mid-send. Failures are
// retried with backoff; quiet hours hold back all but critical events; a
// push key the gateway rejects (or an expired browser subscription)
// removes its pusher.
//
// A notification carries ids, a type and a count, never a name, unit,
// phone, note or anything about anyone's health: the app pulls for the
// rest.
//
// Its records in the store (all private, never published; the domain's
// table of the whole namespace, mutualaid/namespace.go, lists them).
// ON-DISK FORMAT: never change or reuse a layout or a JSON field name.
//
//	entity id                                  value (JSON)
//	pushers/<user>                             PusherSet: the user's devices' pushers
//	pushkey/<sha256>                           pushkeyOwner: the device a push key is registered to
//	notify/todo/<event>                        groupEvent: an event for a group, not yet expanded
//	notify/q/<user>/<client>/<event>           queued: an event waiting for one device
//	notify/dev/<user>/<client>                 deviceState: a device with events waiting, and the
//	                                           notification in flight to it
//
// <event> is an event id: 16 hex digits of unix milliseconds, "-", 8
// random hex digits (so ids sort by time).
package notify
