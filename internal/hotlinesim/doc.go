// Package hotlinesim is a city hotline (such as Beijing's 12345) speaking
// Open311 GeoReport v2, for demos and tests: Sim dispatches each case to the
// street office of its jurisdiction and resolves it after a while, and
// failures can be injected (errors, hangs, lost answers), in process or
// over its control API. `linli hotline-sim` serves it.
//
// It is no part of the service: packages server and mutualaid never
// import it.
package hotlinesim
