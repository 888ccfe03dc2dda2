// Package auth holds Fluxhook's credential primitives: password hashing,
// access tokens, opaque secrets (client keys, refresh and one-time tokens),
// scopes and the client address used for per-IP limits.
//
// It has no storage and no HTTP handlers so that every rule about what a
// credential looks like, and how it is checked, lives in one place that the
// store and the HTTP layer both build on.
package auth
