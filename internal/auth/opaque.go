package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Prefixes of opaque secrets. They say what a leaked string is (secret
// scanners match on them) and let a lookup reject the wrong kind early.
const (
	PrefixClientKey = "fbk_" // client keys
	PrefixRefresh   = "fbr_" // refresh tokens
	PrefixOneTime   = "fbt_" // password-reset and email-verification tokens
)

// opaqueBodyLen is the length of 32 random bytes in unpadded base64url.
const opaqueBodyLen = 43

// clientKeyPrefixLen is how much of a client key is stored and shown in
// clear, enough for a person to tell their keys apart.
const clientKeyPrefixLen = 12

// NewOpaque returns a fresh secret, prefix followed by 32 random bytes in
// unpadded base64url, and the hash to store in its place. Only the hash is
// stored, so a leaked database does not leak usable tokens; SHA-256 is
// enough (no salt, no argon2) because the token has 256 bits of entropy.
func NewOpaque(prefix string) (token string, hash []byte) {
	var b [32]byte
	// crypto/rand.Read never returns an error; it crashes the program
	// when the system's random source fails.
	_, _ = rand.Read(b[:])
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashOpaque(token)
}

// HashOpaque returns the SHA-256 of the whole token, prefix included, to
// look the token up by.
func HashOpaque(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// IsOpaque reports whether s has exactly the shape NewOpaque(prefix)
// makes, so garbage is refused before it costs a database lookup.
func IsOpaque(s, prefix string) bool {
	body, ok := strings.CutPrefix(s, prefix)
	return ok && len(body) == opaqueBodyLen && isBase64URL(body)
}

// NewClientKey returns a fresh client key, the prefix of it that is stored
// in clear, and the hash that is stored in its place.
func NewClientKey() (key, prefix string, hash []byte) {
	key, hash = NewOpaque(PrefixClientKey)
	return key, key[:clientKeyPrefixLen], hash
}

// IsClientKey reports whether s has the shape of a client key.
func IsClientKey(s string) bool { return IsOpaque(s, PrefixClientKey) }
