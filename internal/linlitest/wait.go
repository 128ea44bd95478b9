package linlitest

import "time"

// WaitTimeout bounds WaitFor: long enough for a loaded machine running
// tests with -race, short enough to fail a hung test before the test
// binary's own timeout.
const WaitTimeout = 20 * time.Second

// WaitFor polls cond every few milliseconds until it is true, failing t
// with what if it is still false after WaitTimeout. cond runs on the
// test's goroutine and may call t's methods.
//
// It waits for something to happen. To check that something did not
// happen, wait for the event that proves the code ran (a pass of a loop, a
// request served) and then look.
func WaitFor(t TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", WaitTimeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
