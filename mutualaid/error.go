package mutualaid

import (
	"errors"
	"fmt"
)

// Code classifies a domain error. The server maps each code to a Connect
// code once, at the edge.
type Code string

// Error codes.
const (
	Invalid   Code = "invalid"   // the input is malformed or out of bounds
	NotFound  Code = "not_found" // the thing referred to does not exist
	Conflict  Code = "conflict"  // the thing is not in a state that allows the change
	Forbidden Code = "forbidden" // the caller may not make the change
	// Unauthenticated: the caller's credentials (a refresh token, a session) are not or no longer valid.
	Unauthenticated Code = "unauthenticated"
)

// Error is a domain error: a code, a machine-readable Reason (lowercase
// snake_case, e.g. "note_too_long"), a Message safe to show the user, and
// the offending Field when one is to blame (e.g.
// "post_offer.draft.items[2].quantity", relative to the Mutation message).
type Error struct {
	Code    Code
	Reason  string
	Message string
	Field   string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("mutualaid: %s: %s (%s): %s", e.Code, e.Reason, e.Field, e.Message)
	}
	return fmt.Sprintf("mutualaid: %s: %s: %s", e.Code, e.Reason, e.Message)
}

// Is reports whether target is an *Error with the same Code and Reason,
// so that errors.Is(err, ErrMemberRemoved) holds for every such error,
// whatever its message or field.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Reason == e.Reason
}

// Errors a caller is told to act on (errors.Is matches them by code and
// reason; see Error.Is). Never modify them.
var (
	// ErrMemberRemoved: the member does not exist or was removed; their
	// app drops what it holds.
	ErrMemberRemoved = &Error{Code: Unauthenticated, Reason: "member_removed", Message: "Your membership of this community has ended."}
	// ErrSessionRevoked: the device was signed out, revoked, or signed in
	// again since; the app signs in again.
	ErrSessionRevoked = &Error{Code: Unauthenticated, Reason: "session_revoked", Message: "This device was signed out. Please sign in again."}
)

// Errorf returns an *Error with the given code and reason and a formatted
// message, which must be safe to show users.
func Errorf(code Code, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Invalidf returns an *Error with code Invalid blaming field.
func Invalidf(field, reason, format string, args ...any) *Error {
	e := Errorf(Invalid, reason, format, args...)
	e.Field = field
	return e
}

// ErrorCode returns the code of the *Error in err's chain, or "" if there is
// none (the error is internal).
func ErrorCode(err error) Code {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return ""
}

// ErrorReason returns the reason of the *Error in err's chain, or "".
func ErrorReason(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Reason
	}
	return ""
}
