package mutualaid

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The domain's namespace in the sync store: every entity id family, every
// scope, and the JSON records stored as canonical values. ON-DISK FORMAT:
// never change or reuse an id layout, a scope name or a record's JSON field
// name. A store written before must open after; a layout that must change
// needs a migration run at Open, with a test. TestNamespaceGolden pins what
// a scripted history leaves, and TestOpenStoreV1 opens a store written by
// an earlier version (testdata/store-v1).
//
// Names: <c> community id, <b> building id, <u> user id, <client> client
// (device) id, <post> post id, <handoff> handoff id (all 1-64 of
// [A-Za-z0-9_-], so that "/" separates them); <sha256> the hex SHA-256 of a
// secret (a join code, a refresh token: the store never holds one); <due>
// 16 lower-case hex digits of unix milliseconds (so ids sort by time);
// <key> url.PathEscape("<c>/<post>"), the outbox's post key; <event> a
// notification event id (16 hex digits of unix milliseconds, "-", 8 random
// hex digits).
//
// Entities: canonical value; where it is published (a view per scope, see
// projection.go and handoff_views.go); "nowhere" means private.
//
//	entity id                        canonical value               published in
//	community/<c>                    Entity{Community}             community/<c>
//	building/<c>/<b>                 Entity{Building}              community/<c>
//	member/<c>/<u>                   Entity{Member}                user/<u> and staff/<c>; staff/<c> only once removed
//	joincode/<sha256>                joinCodeRecord (JSON)         staff/<c>: Entity{JoinCode}, never the code; a device code nowhere
//	device/<u>/<client>              deviceRecord (JSON)           user/<u>: Entity{Device}
//	devices/<u>                      deviceIndex (JSON)            nowhere (the user's clients)
//	refresh/<sha256>                 refreshRecord (JSON)          nowhere
//	index/communities                []string (JSON)               nowhere (every community id, in creation order)
//	post/<c>/<post>                  Entity{Post}                  community/<c> redacted, user/<author>, staff/<c> (PostViews)
//	handoff/<c>/<handoff>            Entity{Handoff}               user/ of each side, courier and proposer; staff/<c>; building/<c>/<b> (handoffViews)
//	posthandoffs/<c>/<post>          postHandoffs (JSON)           nowhere
//	queue/<c>/<post>                 Entity{StaffQueueItem}        staff/<c>
//	idx/due/<due>/<c>/<post>         "{}"                          nowhere (a waiting request's deadline)
//	idx/dueof/<c>/<post>             its idx/due id                nowhere
//	idx/due-failed/<due>/<c>/<post>  "{}"                          nowhere (a deadline whose escalation failed, set aside)
//	idx/case/<c>/<post>              "<c>/<post>"                  nowhere (a forwarded request whose case is open)
//	outbox/<key>                     hotline.OutboxEntry (JSON)    nowhere (a case to forward; written by package hotline)
//	outbox-active/<key>              0x01                          nowhere (the entry is pending or posting)
//	outbox-stuck/<key>               0x01                          nowhere (staff must look at the entry)
//	pushers/<u>                      notify.PusherSet (JSON)       nowhere (the pushers of the user's devices; written by package notify)
//	pushkey/<sha256>                 JSON {user, client}           nowhere (the device a push key is registered to; package notify)
//	notify/todo/<event>              JSON group event              nowhere (an event for volunteers or staff, until expanded; package notify)
//	notify/q/<u>/<client>/<event>    JSON queued event             nowhere (an event waiting for one device; package notify)
//	notify/dev/<u>/<client>          JSON device state             nowhere (a device with events waiting, the notification in flight; package notify)
//	match/<c>/<post>/<post>          Entity{Match}                 see MatchViews (request, then offer)
//
// Matching's private index (idx/post/, idx/open/, idx/refresh/,
// index/matches/) is documented in match_index.go. "index/open-posts/<c>"
// is retired: never reuse it.
//
// Scopes, and who reads them (MemberScopes):
//
//	community/<c>      every member of c: entities redacted (no unit, phone, names of people posted for)
//	user/<u>           one user: their own entities in full, and their clients' mutation outcomes
//	staff/<c>          c's staff and admins: entities in full
//	building/<c>/<b>   volunteers of b: the handoffs that need a courier

// Entity ids and prefixes of the table above.
func communityEntityID(c string) string      { return "community/" + c }
func buildingEntityID(c, b string) string    { return "building/" + c + "/" + b }
func memberEntityID(c, u string) string      { return "member/" + c + "/" + u }
func deviceEntityID(u, client string) string { return "device/" + u + "/" + client }
func deviceIndexID(u string) string          { return "devices/" + u }
func joinCodeEntityID(hash string) string    { return "joincode/" + hash }
func refreshEntityID(hash string) string     { return "refresh/" + hash }
func postHandoffsID(c, postID string) string { return "posthandoffs/" + c + "/" + postID }
func queueEntityID(c, postID string) string  { return "queue/" + c + "/" + postID }
func caseIndexID(c, postID string) string    { return caseIndexPrefix + CaseKey(c, postID) }
func dueOfID(c, postID string) string        { return dueOfPrefix + c + "/" + postID }
func dueOfCommunity(c string) string         { return dueOfPrefix + c + "/" }
func failedDueID(dueID string) string        { return failedDuePrefix + strings.TrimPrefix(dueID, duePrefix) }
func dueEntityID(due time.Time, c, postID string) string {
	return fmt.Sprintf("%s%016x/%s/%s", duePrefix, uint64(due.UnixMilli()), c, postID)
}

const (
	communitiesIndexID = "index/communities"
	duePrefix          = "idx/due/"
	dueOfPrefix        = "idx/dueof/"
	failedDuePrefix    = "idx/due-failed/"
	caseIndexPrefix    = "idx/case/"
)

// PostEntityID names a post's entity: "post/<community id>/<post id>".
func PostEntityID(communityID, postID string) string {
	return "post/" + communityID + "/" + postID
}

// HandoffEntityID names a handoff's entity:
// "handoff/<community id>/<handoff id>".
func HandoffEntityID(communityID, handoffID string) string {
	return "handoff/" + communityID + "/" + handoffID
}

// CaseKey is the outbox key of request postID of community c:
// "<c>/<post id>". It is also the reference the case carries at the
// hotline.
func CaseKey(c, postID string) string { return c + "/" + postID }

// parseDueID splits an idx/due id into its time, community and post.
func parseDueID(id string) (due time.Time, c, postID string, err error) {
	rest := strings.TrimPrefix(id, duePrefix)
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 {
		return time.Time{}, "", "", fmt.Errorf("mutualaid: bad deadline entry %q", id)
	}
	ms, err := strconv.ParseUint(parts[0], 16, 64)
	if err != nil {
		return time.Time{}, "", "", fmt.Errorf("mutualaid: bad deadline entry %q: %w", id, err)
	}
	return time.UnixMilli(int64(ms)), parts[1], parts[2], nil
}

// CommunityScope names the scope every member of a community reads:
// "community/<id>". Entities appear there redacted.
func CommunityScope(communityID string) string { return "community/" + communityID }

// UserScope names one user's private scope: "user/<id>". It also carries the
// user's clients' mutation outcomes (Open sets it as the engine's
// ClientScope).
func UserScope(userID string) string { return "user/" + userID }

// StaffScope names the scope a community's staff and admins read:
// "staff/<community id>". Entities appear there in full.
func StaffScope(communityID string) string { return "staff/" + communityID }

// BuildingScope names the handoff board of one building, read by the
// volunteers who serve it: "building/<community id>/<building id>".
// Building ids are unique only within a community, so the scope names both.
func BuildingScope(communityID, buildingID string) string {
	return "building/" + communityID + "/" + buildingID
}

// Records: the JSON canonical values of private entities.

// joinCodeRecord is a join code's canonical value.
type joinCodeRecord struct {
	ID        string    `json:"id"`
	Community string    `json:"community"`
	Building  string    `json:"building,omitempty"`
	Role      int32     `json:"role"`
	Expires   time.Time `json:"expires"`
	MaxUses   uint32    `json:"max_uses"`
	Uses      uint32    `json:"uses"`
	CreatedBy string    `json:"created_by,omitempty"`
	// Member, for a device code, is the user it signs another device in
	// as: Join with it creates no member.
	Member string `json:"member,omitempty"`
}

// deviceRecord is a device's canonical value: the Device it publishes
// plus its session's family and live token.
type deviceRecord struct {
	User        string    `json:"user"`
	Community   string    `json:"community"`
	Client      string    `json:"client"`
	SignedInAt  time.Time `json:"signed_in_at"`
	RefreshedAt time.Time `json:"refreshed_at"`
	Revoked     bool      `json:"revoked"`
	// Family names the sign-in every token of this session descends from.
	Family string `json:"family"`
	// Current is the SHA-256 (hex) of the one refresh token that works now.
	Current string `json:"current"`
}

// refreshRecord is a refresh token's canonical value, stored under the
// token's SHA-256.
type refreshRecord struct {
	User      string    `json:"user"`
	Community string    `json:"community"`
	Client    string    `json:"client"`
	Family    string    `json:"family"`
	Expires   time.Time `json:"expires"`
	Spent     bool      `json:"spent"`
}

// deviceIndex lists a user's devices, since the store cannot list entities
// by prefix.
type deviceIndex struct {
	Clients []string `json:"clients"`
}

// postHandoffs is a post's record of its handoffs: it decides whether a
// post goes back to OPEN when a handoff is cancelled, and whether a
// request is FULFILLED when one is received.
type postHandoffs struct {
	// Live lists the ids of the post's handoffs neither received nor
	// cancelled, in the order they were proposed.
	Live []string `json:"live,omitempty"`
	// Received counts the post's received handoffs.
	Received int `json:"received,omitempty"`
}
