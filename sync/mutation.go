package sync

import (
	"errors"
	"fmt"
)

// ClientID names one device of one user. Mutation ids are counted per ClientID.
type ClientID struct {
	User   string
	Client string
}

// Mutation is one client change, ready to be applied by the writer.
type Mutation struct {
	// ID is the client's sequence number: 1, 2, 3…
	ID uint64
	// Name is a short label for logs and metrics, e.g. "post_offer".
	Name string
	// Apply performs the change through tx. It returns a *Rejection to refuse
	// the mutation (which then consumes its id and has no effect); any other
	// error is internal: nothing is applied and the id is not consumed.
	// Apply must be deterministic in what it reads through tx.
	Apply func(tx *Tx) error
}

// Status is what became of a mutation.
type Status uint8

// Mutation statuses. On-disk format: never change or reuse a value.
const (
	StatusApplied        Status = 1
	StatusRejected       Status = 2
	StatusOutcomeExpired Status = 3 // processed long ago; outcome no longer kept
)

// Result is the outcome of one mutation.
type Result struct {
	ID      uint64
	Status  Status
	Reason  string // machine-readable: why it was rejected, or a notice on an applied one
	Message string // safe to show the user
}

// ClientState is one client's progress, published in its user's scope as
// entity "client/<user>/<client>" so that Pull tells a client what became of a Push
// whose response it never received.
type ClientState struct {
	Client         string
	LastMutationID uint64
	Recent         []Result // the most recent outcomes, oldest first, at most RecentResults
}

// RecentResults is how many outcomes ClientState carries.
const RecentResults = 32

// KeptOutcomes is how many outcomes per client are kept to answer duplicates.
const KeptOutcomes = 256

// Rejection is a domain refusal of a mutation. Return it from Mutation.Apply.
type Rejection struct {
	Reason  string
	Message string
}

func (r *Rejection) Error() string { return fmt.Sprintf("rejected: %s: %s", r.Reason, r.Message) }

// Reject returns a *Rejection with a machine-readable reason and a message
// safe to show the user.
func Reject(reason, message string) error { return &Rejection{Reason: reason, Message: message} }

// GapError refuses a push whose first new mutation does not follow the
// client's last processed one. Nothing of the push was applied.
type GapError struct {
	LastMutationID uint64
	Got            uint64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("sync: mutation id gap: last processed %d, got %d", e.LastMutationID, e.Got)
}

// Errors returned by the engine.
var (
	ErrClosed         = errors.New("sync: store closed")
	ErrBadMutationIDs = errors.New("sync: mutation ids must be consecutive and start at 1 or more")
	ErrBadCursor      = errors.New("sync: malformed cursor")
	ErrBadScope       = errors.New("sync: malformed scope")
	ErrBadEntityID    = errors.New("sync: malformed entity id")
	ErrCorrupt        = errors.New("sync: corrupt record")
)
