// Package triage finds the signs of a medical emergency in what a resident
// writes ("宝宝两个月大，发烧", "can't breathe"), in Chinese and English, so
// that the reply tells them to call 120 at once and staff are alerted: such
// needs are never left waiting for neighbours. It depends on nothing but
// the standard library.
package triage
