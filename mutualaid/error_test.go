package mutualaid_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/linli/linli/mutualaid"
)

func TestError(t *testing.T) {
	t.Parallel()
	t.Run("InvalidfCarriesField", func(t *testing.T) {
		err := mutualaid.Invalidf("post_request.draft.note", "note_too_long", "The note is longer than %d characters.", 1000)
		want := "mutualaid: invalid: note_too_long (post_request.draft.note): The note is longer than 1000 characters."
		if got := err.Error(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("CodeAndReasonThroughWrapping", func(t *testing.T) {
		err := fmt.Errorf("push: %w", mutualaid.Errorf(mutualaid.Forbidden, "not_author", "Only the author can change this post."))
		if got := mutualaid.ErrorCode(err); got != mutualaid.Forbidden {
			t.Errorf("ErrorCode: got %q, want forbidden", got)
		}
		if got := mutualaid.ErrorReason(err); got != "not_author" {
			t.Errorf("ErrorReason: got %q, want not_author", got)
		}
	})
	t.Run("InternalHasNoCode", func(t *testing.T) {
		err := errors.New("pebble: disk full")
		if mutualaid.ErrorCode(err) != "" || mutualaid.ErrorReason(err) != "" {
			t.Errorf("got code %q reason %q for an internal error, want empty", mutualaid.ErrorCode(err), mutualaid.ErrorReason(err))
		}
	})
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	built := mutualaid.Errorf(mutualaid.Unauthenticated, "member_removed", "another message")
	wrapped := fmt.Errorf("pull: %w", built)
	if !errors.Is(wrapped, mutualaid.ErrMemberRemoved) {
		t.Errorf("errors.Is(%v, ErrMemberRemoved) = false, want true (same code and reason)", wrapped)
	}
	if errors.Is(wrapped, mutualaid.ErrSessionRevoked) {
		t.Errorf("errors.Is(%v, ErrSessionRevoked) = true, want false", wrapped)
	}
	if errors.Is(mutualaid.Errorf(mutualaid.NotFound, "member_removed", "x"), mutualaid.ErrMemberRemoved) {
		t.Error("an error with another code matched ErrMemberRemoved")
	}
}
