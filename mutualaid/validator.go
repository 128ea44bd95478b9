package mutualaid

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// validator records the first problem found in a client's input. Its
// methods do nothing once a problem is recorded. Reasons are built from a
// name: name+"_required", name+"_too_long", name+"_invalid",
// name+"_out_of_range".
type validator struct {
	err *Error
}

func (v *validator) fail(field, reason, message string) {
	if v.err == nil {
		v.err = Invalidf(field, reason, "%s", message)
	}
}

// result returns the recorded problem as an error, or a nil error.
func (v *validator) result() error {
	if v.err == nil {
		return nil
	}
	return v.err
}

// ident checks an identifier: 1 to maxIDLen bytes, each allowed by ok.
func (v *validator) ident(field, name, s string, ok func(byte) bool) {
	label := strings.ReplaceAll(name, "_", " ")
	switch {
	case s == "":
		v.fail(field, name+"_required", fmt.Sprintf("The %s is missing.", label))
	case len(s) > maxIDLen:
		v.fail(field, name+"_too_long", fmt.Sprintf("The %s is longer than %d characters.", label, maxIDLen))
	case !allBytes(s, ok):
		v.fail(field, name+"_invalid", fmt.Sprintf("The %s contains characters that are not allowed.", label))
	}
}

// text checks free text: valid UTF-8, no control characters ('\n' only if
// multiline), at most max runes.
func (v *validator) text(field, name, s string, max int, multiline bool) {
	label := strings.ReplaceAll(name, "_", " ")
	switch {
	case !cleanText(s, multiline):
		v.fail(field, name+"_invalid", fmt.Sprintf("The %s contains characters that are not allowed.", label))
	case utf8.RuneCountInString(s) > max:
		v.fail(field, name+"_too_long", fmt.Sprintf("The %s is longer than %d characters.", label, max))
	}
}

func (v *validator) intRange(field, name string, n, lo, hi int32) {
	if n < lo || n > hi {
		label := strings.ReplaceAll(name, "_", " ")
		v.fail(field, name+"_out_of_range", fmt.Sprintf("The %s must be between %d and %d.", label, lo, hi))
	}
}

// date checks an optional calendar date written YYYY-MM-DD.
func (v *validator) date(field, name, s string) {
	if s == "" {
		return
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil || len(s) != len(time.DateOnly) {
		v.fail(field, name+"_invalid", "Write the date as YYYY-MM-DD.")
	}
}

func (v *validator) phone(field, s string) {
	switch {
	case len(s) > maxPhoneLen:
		v.fail(field, "phone_too_long", fmt.Sprintf("The phone number is longer than %d characters.", maxPhoneLen))
	case !allBytes(s, isPhoneByte):
		v.fail(field, "phone_invalid", "A phone number holds only digits, spaces, + and -.")
	}
}

func (v *validator) displayName(field, s string) {
	if strings.TrimSpace(s) == "" && utf8.ValidString(s) {
		v.fail(field, "display_name_required", "Tell your neighbours what to call you.")
		return
	}
	v.text(field, "display_name", s, maxDisplayNameLen, false)
}

func cleanText(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && r == '\n') {
			return false
		}
	}
	return true
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// isIDByte allows [A-Za-z0-9_-] (post and building ids).
func isIDByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// isItemCodeByte allows [a-z0-9-] (catalog codes).
func isItemCodeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
}

func isPhoneByte(c byte) bool {
	return '0' <= c && c <= '9' || c == ' ' || c == '+' || c == '-'
}
