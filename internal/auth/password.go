package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrMalformedHash is returned by Verify for an encoded hash it cannot read.
// A stored hash should never be malformed, so callers treat it as internal.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// Params are the argon2id cost parameters. They are written into every
// encoded hash, so they can change later: old hashes keep verifying with
// their own parameters and Verify reports that they need a rehash.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
	// MaxConcurrent bounds hashes running at once, so a burst of sign-ins
	// costs at most MaxConcurrent*Memory instead of exhausting memory.
	MaxConcurrent int
}

// DefaultParams returns the OWASP-recommended argon2id parameters
// (19 MiB, 2 passes, 1 thread).
func DefaultParams() Params {
	return Params{
		Memory:        19456,
		Time:          2,
		Threads:       1,
		SaltLen:       16,
		KeyLen:        32,
		MaxConcurrent: 2 * runtime.NumCPU(),
	}
}

// TestParams returns parameters cheap enough for tests in other packages.
// They are far too weak for production.
func TestParams() Params {
	p := DefaultParams()
	p.Memory, p.Time, p.Threads = 64, 1, 1
	return p
}

// Bounds on parameters read from an encoded hash. Without them a corrupted
// or planted hash could make one Verify allocate gigabytes or spin for
// minutes.
const (
	maxMemory  = 1 << 20 // KiB, 1 GiB
	maxTime    = 100
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

// Hasher hashes and verifies passwords with argon2id. It is safe for
// concurrent use.
type Hasher struct {
	p   Params
	sem chan struct{}
	// dummy is an encoded hash with this hasher's parameters that no
	// password matches; DummyVerify checks against it.
	dummy string
}

// Validate reports whether p, with zero fields taken from DefaultParams,
// makes hashes that Verify accepts back. Call it on configuration before
// NewHasher.
func (p Params) Validate() error {
	p = p.withDefaults()
	switch {
	case p.Memory > maxMemory:
		return fmt.Errorf("auth: argon2 memory %d KiB is over %d KiB", p.Memory, maxMemory)
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("auth: argon2 memory %d KiB is under 8 KiB per thread", p.Memory)
	case p.Time > maxTime:
		return fmt.Errorf("auth: argon2 time %d is over %d", p.Time, maxTime)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("auth: argon2 salt length %d is outside [%d, %d]", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("auth: argon2 key length %d is outside [%d, %d]", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	if p.MaxConcurrent <= 0 {
		p.MaxConcurrent = d.MaxConcurrent
	}
	return p
}

// NewHasher returns a Hasher using p. Zero fields take their value from
// DefaultParams, so a partially filled configuration is still usable. It
// panics if p.Validate fails: a hasher whose hashes cannot be verified
// would lock every user out, which is worse than not starting.
func NewHasher(p Params) *Hasher {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	p = p.withDefaults()
	h := &Hasher{p: p, sem: make(chan struct{}, p.MaxConcurrent)}
	// The salt and key are fixed (zero) bytes: the dummy only has to cost
	// the same as a real hash, and nothing can match an all-zero key except
	// by breaking argon2.
	h.dummy = encodeHash(phc{
		memory: p.Memory, time: p.Time, threads: p.Threads,
		salt: make([]byte, p.SaltLen), key: make([]byte, p.KeyLen),
	})
	return h
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.p }

// Hash returns the PHC-encoded argon2id hash of password. It waits for a
// free slot first, giving up when ctx ends.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: read salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.p.Time, h.p.Memory, h.p.Threads, h.p.KeyLen)
	h.release()
	return encodeHash(phc{memory: h.p.Memory, time: h.p.Time, threads: h.p.Threads, salt: salt, key: key}), nil
}

// Verify reports whether password matches encoded. needsRehash is true
// when the password matched but encoded was made with other parameters
// than this hasher's, so the caller can store a fresh Hash. A malformed
// encoded hash is an error wrapping ErrMalformedHash; a wrong password is
// not an error.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	ph, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	key := argon2.IDKey([]byte(password), ph.salt, ph.time, ph.memory, ph.threads, uint32(len(ph.key)))
	h.release()
	if subtle.ConstantTimeCompare(key, ph.key) != 1 {
		return false, false, nil
	}
	needsRehash = ph.memory != h.p.Memory || ph.time != h.p.Time || ph.threads != h.p.Threads ||
		uint32(len(ph.salt)) != h.p.SaltLen || uint32(len(ph.key)) != h.p.KeyLen
	return true, needsRehash, nil
}

// DummyVerify costs what a Verify with this hasher's parameters costs and
// matches nothing. Sign-in calls it when no user has the given email, so
// that the response time does not tell which emails have accounts. Its
// only error is ctx's.
func (h *Hasher) DummyVerify(ctx context.Context) error {
	_, _, err := h.Verify(ctx, "fluxhook-dummy-password", h.dummy)
	return err
}

func (h *Hasher) acquire(ctx context.Context) error {
	// Checked first because select picks at random when both are ready,
	// and a cancelled request should not start a 19 MiB hash.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("auth: wait for hash slot: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("auth: wait for hash slot: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }

// phc is a decoded $argon2id$ PHC string.
type phc struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func encodeHash(p phc) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(p.salt),
		base64.RawStdEncoding.EncodeToString(p.key))
}

// decodeHash parses the one canonical form encodeHash writes and nothing
// else, so every accepted string re-encodes to itself. Encoded hashes come
// from the database, but a parser that panics or allocates without bound
// on a bad row would turn one corrupt row into an outage.
func decodeHash(s string) (phc, error) {
	var p phc
	fail := func(why string) (phc, error) {
		return phc{}, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("want 5 $-separated fields")
	}
	if parts[1] != "argon2id" {
		return fail("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("unsupported version")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return fail("want parameters m, t and p")
	}
	m, ok := decimalParam(params[0], "m=", 1, maxMemory)
	if !ok {
		return fail("bad m")
	}
	t, ok := decimalParam(params[1], "t=", 1, maxTime)
	if !ok {
		return fail("bad t")
	}
	th, ok := decimalParam(params[2], "p=", 1, 255)
	if !ok {
		return fail("bad p")
	}
	if m < 8*th {
		return fail("m is below 8*p")
	}
	p.memory, p.time, p.threads = uint32(m), uint32(t), uint8(th)
	var err error
	if p.salt, err = canonicalBase64(parts[4], minSaltLen, maxSaltLen); err != nil {
		return fail("salt: " + err.Error())
	}
	if p.key, err = canonicalBase64(parts[5], minKeyLen, maxKeyLen); err != nil {
		return fail("hash: " + err.Error())
	}
	return p, nil
}

// decimalParam parses "<name><digits>" with no sign and no leading zero,
// within [lo, hi].
func decimalParam(s, name string, lo, hi uint64) (uint64, bool) {
	v, found := strings.CutPrefix(s, name)
	if !found || v == "" || len(v) > 10 || (v[0] == '0' && len(v) > 1) {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

func canonicalBase64(s string, minLen, maxLen int) ([]byte, error) {
	if s == "" || len(s) > base64.RawStdEncoding.EncodedLen(maxLen) {
		return nil, errors.New("bad length")
	}
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("not unpadded base64")
	}
	// The decoder skips CR and LF; re-encoding catches them.
	if base64.RawStdEncoding.EncodeToString(b) != s {
		return nil, errors.New("not canonical base64")
	}
	if len(b) < minLen || len(b) > maxLen {
		return nil, errors.New("bad length")
	}
	return b, nil
}
