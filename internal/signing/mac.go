package signing

import (
	"crypto/sha256"
	"hash"
)

// mac is HMAC-SHA256 (RFC 2104) over one reusable SHA-256 state.
//
// crypto/hmac fixes the key at hmac.New, and every delivery attempt signs
// with a different webhook's secrets, so it would allocate two digests and
// the pads per signature; this computes the same function with the state
// reset between keys, and lives in a sync.Pool. Tests check it against
// crypto/hmac for keys on both sides of the block size, and Verify uses
// crypto/hmac, so a receiver's view is never computed by this code alone.
type mac struct {
	h    hash.Hash
	key  [sha256.BlockSize]byte
	pad  [sha256.BlockSize]byte
	sum  [sha256.Size]byte
	opad [sha256.BlockSize]byte
}

func newMAC() *mac { return &mac{h: sha256.New()} }

// reset starts a MAC with key.
func (m *mac) reset(key []byte) {
	clear(m.key[:])
	if len(key) > sha256.BlockSize {
		m.h.Reset()
		m.h.Write(key)
		m.h.Sum(m.key[:0])
	} else {
		copy(m.key[:], key)
	}
	for i, k := range m.key {
		m.pad[i] = k ^ 0x36
		m.opad[i] = k ^ 0x5c
	}
	m.h.Reset()
	m.h.Write(m.pad[:])
}

func (m *mac) write(p []byte) { m.h.Write(p) }

// finish returns the MAC. The result aliases m and is valid until the next
// reset. The key and pads are wiped because a pooled mac outlives the call
// that keyed it.
func (m *mac) finish() []byte {
	inner := m.h.Sum(m.sum[:0])
	m.h.Reset()
	m.h.Write(m.opad[:])
	m.h.Write(inner)
	out := m.h.Sum(m.sum[:0])
	clear(m.key[:])
	clear(m.pad[:])
	clear(m.opad[:])
	return out
}
