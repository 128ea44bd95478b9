package mutualaid

// Handoff internals, exported to the package's external tests.
var (
	HandoffMutation = handoffMutation
	HandoffViews    = handoffViews
)
