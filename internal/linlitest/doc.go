// Package linlitest holds what linli's tests share: a real server behind
// httptest (Server), a settable clock (Clock), waiting for a condition
// instead of sleeping (WaitFor), and pulling a member's scopes and folding
// them into what an app would hold (PullAll, State).
//
// It does not import package testing (its helpers take a TB), so that the
// tools under internal/ that check a synced state may use State too.
package linlitest

import (
	"context"
	"io"
)

// TB is the part of testing.TB the helpers use; *testing.T and *testing.B
// satisfy it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Output() io.Writer
	Context() context.Context
}
