package secretbox_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fluxhook/fluxhook/internal/secretbox"
)

func key(tb testing.TB, seed byte) []byte {
	tb.Helper()
	return bytes.Repeat([]byte{seed}, secretbox.KeySize)
}

func mustNew(tb testing.TB, k []byte, old ...[]byte) *secretbox.Box {
	tb.Helper()
	b, err := secretbox.New(k, old...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	box := mustNew(t, key(t, 1))
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"webhook secret", []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), []byte("webhook:0190f5a4")},
		{"empty plaintext", nil, []byte("webhook:1")},
		{"no aad", []byte("invitation-token"), nil},
		{"binary", []byte{0, 0xff, 0x80, '\n'}, []byte{0}},
		{"large", bytes.Repeat([]byte("s"), 1<<16), []byte("x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := box.Seal(tt.plaintext, tt.aad)
			if got, want := len(sealed), 1+4+12+len(tt.plaintext)+16; got != want {
				t.Fatalf("sealed length %d, want %d", got, want)
			}
			if sealed[0] != 0x01 {
				t.Fatalf("version byte %#x, want 0x01", sealed[0])
			}
			sum := sha256.Sum256(key(t, 1))
			if !bytes.Equal(sealed[1:5], sum[:4]) {
				t.Fatalf("key id %x, want %x", sealed[1:5], sum[:4])
			}
			if len(tt.plaintext) > 0 && bytes.Contains(sealed, tt.plaintext) {
				t.Fatal("sealed value contains the plaintext")
			}
			got, err := box.Open(sealed, tt.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Fatalf("Open = %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestSealIsRandomised(t *testing.T) {
	box := mustNew(t, key(t, 1))
	a := box.Seal([]byte("same"), []byte("row"))
	b := box.Seal([]byte("same"), []byte("row"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal; the nonce is not random")
	}
	if bytes.Equal(a[5:17], b[5:17]) {
		t.Fatal("two seals share a nonce")
	}
}

func TestOpenRejects(t *testing.T) {
	box := mustNew(t, key(t, 1))
	aad := []byte("webhook:a")
	sealed := box.Seal([]byte("whsec_secret"), aad)
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	other := mustNew(t, key(t, 2))

	tests := []struct {
		name   string
		box    *secretbox.Box
		sealed []byte
		aad    []byte
		want   error
	}{
		{"nil", box, nil, aad, secretbox.ErrMalformed},
		{"version only", box, []byte{0x01}, aad, secretbox.ErrMalformed},
		{"one byte short", box, sealed[:1+4+12+15], aad, secretbox.ErrMalformed},
		{"unknown version", box, append([]byte{0x02}, sealed[1:]...), aad, secretbox.ErrMalformed},
		{"version zero", box, flip(0), aad, secretbox.ErrMalformed},
		{"key id altered", box, flip(1), aad, secretbox.ErrUnknownKey},
		{"wrong key", other, sealed, aad, secretbox.ErrUnknownKey},
		{"nonce altered", box, flip(5), aad, secretbox.ErrOpen},
		{"ciphertext altered", box, flip(17), aad, secretbox.ErrOpen},
		{"tag altered", box, flip(len(sealed) - 1), aad, secretbox.ErrOpen},
		{"truncated tag", box, sealed[:len(sealed)-1], aad, secretbox.ErrOpen},
		{"appended byte", box, append(bytes.Clone(sealed), 0), aad, secretbox.ErrOpen},
		{"other row's aad", box, sealed, []byte("webhook:b"), secretbox.ErrOpen},
		{"aad missing", box, sealed, nil, secretbox.ErrOpen},
		{"aad extended", box, sealed, []byte("webhook:a2"), secretbox.ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.sealed, tt.aad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %q, %v; want error %v", got, err, tt.want)
			}
			if got != nil {
				t.Fatalf("Open returned plaintext %q with its error", got)
			}
		})
	}
}

func TestSwappedRowsFail(t *testing.T) {
	box := mustNew(t, key(t, 1))
	rowA := box.Seal([]byte("secret A"), []byte("webhook:A"))
	rowB := box.Seal([]byte("secret B"), []byte("webhook:B"))
	// Someone with write access to the table copies A's ciphertext into B.
	if got, err := box.Open(rowA, []byte("webhook:B")); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("A's ciphertext opened as row B: %q, %v", got, err)
	}
	if got, err := box.Open(rowB, []byte("webhook:B")); err != nil || string(got) != "secret B" {
		t.Fatalf("row B no longer opens: %q, %v", got, err)
	}
}

func TestKeyRotation(t *testing.T) {
	k1, k2, k3 := key(t, 1), key(t, 2), key(t, 3)
	aad := []byte("webhook:1")
	v1 := mustNew(t, k1).Seal([]byte("sealed under k1"), aad)
	v2 := mustNew(t, k2).Seal([]byte("sealed under k2"), aad)

	rotated := mustNew(t, k3, k2, k1)
	for _, tc := range []struct {
		name   string
		sealed []byte
		want   string
	}{
		{"oldest key", v1, "sealed under k1"},
		{"previous key", v2, "sealed under k2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rotated.Open(tc.sealed, aad)
			if err != nil || string(got) != tc.want {
				t.Fatalf("Open = %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	t.Run("seals with the first key", func(t *testing.T) {
		sealed := rotated.Seal([]byte("new"), aad)
		if got, err := mustNew(t, k3).Open(sealed, aad); err != nil || string(got) != "new" {
			t.Fatalf("a box with only the new key cannot open it: %q, %v", got, err)
		}
		if _, err := mustNew(t, k2, k1).Open(sealed, aad); !errors.Is(err, secretbox.ErrUnknownKey) {
			t.Fatalf("a box without the new key: %v, want ErrUnknownKey", err)
		}
	})

	t.Run("retired key removed", func(t *testing.T) {
		if _, err := mustNew(t, k3, k2).Open(v1, aad); !errors.Is(err, secretbox.ErrUnknownKey) {
			t.Fatalf("Open = %v, want ErrUnknownKey", err)
		}
	})
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name    string
		key     []byte
		old     [][]byte
		wantErr string
	}{
		{"nil key", nil, nil, "key 0 is 0 bytes, want 32"},
		{"AES-128 key", make([]byte, 16), nil, "key 0 is 16 bytes"},
		{"33 bytes", make([]byte, 33), nil, "key 0 is 33 bytes"},
		{"short old key", make([]byte, 32), [][]byte{make([]byte, 31)}, "key 1 is 31 bytes"},
		{"same key twice", bytes.Repeat([]byte{7}, 32), [][]byte{bytes.Repeat([]byte{7}, 32)}, "keys 0 and 1 have the same key id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := secretbox.New(tt.key, tt.old...)
			if err == nil {
				t.Fatalf("New = %v, want an error", b)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestBoxOutlivesCallerKeySlice(t *testing.T) {
	k := key(t, 1)
	box := mustNew(t, k)
	sealed := box.Seal([]byte("v"), nil)
	clear(k) // e.g. the caller wipes the key after start-up
	if got, err := box.Open(sealed, nil); err != nil || string(got) != "v" {
		t.Fatalf("after the caller cleared its key slice: %q, %v", got, err)
	}
}

func FuzzOpen(f *testing.F) {
	box := mustNew(f, key(f, 1), key(f, 2))
	// A fixed value sealed once under key 1 (a fresh Seal here would differ
	// in every fuzzing worker, each running this set-up with its own nonce).
	genuine, err := hex.DecodeString("0172cd6e84e58f2e09f67748de89216e37a2e5836444a0d88b1e4e719309abec787b569e4e")
	if err != nil {
		f.Fatal(err)
	}
	if got, err := box.Open(genuine, []byte("aad")); err != nil || string(got) != "seed" {
		f.Fatalf("the fixed value no longer opens: %q, %v; was the format changed?", got, err)
	}
	f.Add(genuine, []byte("aad"))
	f.Add([]byte{0x01}, []byte(nil))
	f.Add([]byte{}, []byte(nil))
	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		got, err := box.Open(sealed, aad)
		if err == nil {
			// Anything but the genuine value opening would be a forgery.
			if !bytes.Equal(sealed, genuine) || string(aad) != "aad" || string(got) != "seed" {
				t.Fatalf("Open accepted %x with aad %q as %q", sealed, aad, got)
			}
			return
		}
		if !errors.Is(err, secretbox.ErrMalformed) && !errors.Is(err, secretbox.ErrUnknownKey) && !errors.Is(err, secretbox.ErrOpen) {
			t.Fatalf("undocumented error %v", err)
		}
	})
}
