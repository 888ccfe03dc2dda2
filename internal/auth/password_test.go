package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(TestParams())
	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=64,t=1,p=1$"; !strings.HasPrefix(encoded, want) {
		t.Fatalf("encoded = %q, want prefix %q", encoded, want)
	}
	other, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if other == encoded {
		t.Error("two hashes of one password are equal; the salt is not random")
	}

	tests := []struct {
		name     string
		password string
		wantOK   bool
	}{
		{"right password", "correct horse battery staple", true},
		{"wrong password", "correct horse battery stapler", false},
		{"empty password", "", false},
		{"unicode password", "correct horse battery staplé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, tt.password, encoded)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || rehash {
				t.Errorf("Verify = (%v, %v), want (%v, false)", ok, rehash, tt.wantOK)
			}
		})
	}
}

func TestHashDefaultParamsEncoding(t *testing.T) {
	h := NewHasher(DefaultParams())
	encoded, err := h.Hash(context.Background(), "a password of some length")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" || parts[3] != "m=19456,t=2,p=1" {
		t.Fatalf("encoded = %q, want $argon2id$v=19$m=19456,t=2,p=1$salt$hash", encoded)
	}
	// 16 and 32 bytes in unpadded base64.
	if len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Errorf("salt and hash are %d and %d characters, want 22 and 43", len(parts[4]), len(parts[5]))
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(TestParams())
	encoded, err := old.Hash(ctx, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		change     func(*Params)
		wantRehash bool
	}{
		{"same params", func(*Params) {}, false},
		{"more memory", func(p *Params) { p.Memory = 128 }, true},
		{"more time", func(p *Params) { p.Time = 2 }, true},
		{"more threads", func(p *Params) { p.Threads = 2 }, true},
		{"longer salt", func(p *Params) { p.SaltLen = 32 }, true},
		{"longer key", func(p *Params) { p.KeyLen = 64 }, true},
		{"other concurrency only", func(p *Params) { p.MaxConcurrent = 1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := TestParams()
			tt.change(&p)
			ok, rehash, err := NewHasher(p).Verify(ctx, "a long enough password", encoded)
			if err != nil {
				t.Fatal(err)
			}
			if !ok || rehash != tt.wantRehash {
				t.Errorf("Verify = (%v, %v), want (true, %v)", ok, rehash, tt.wantRehash)
			}
		})
	}
	t.Run("no rehash reported for a wrong password", func(t *testing.T) {
		p := TestParams()
		p.Memory = 128
		ok, rehash, err := NewHasher(p).Verify(ctx, "wrong", encoded)
		if err != nil || ok || rehash {
			t.Errorf("Verify = (%v, %v, %v), want (false, false, nil)", ok, rehash, err)
		}
	})
}

func TestVerifyMalformed(t *testing.T) {
	h := NewHasher(TestParams())
	good, err := h.Hash(context.Background(), "password")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	tests := []struct {
		name    string
		encoded string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"params out of order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"missing param", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"signed number", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"zero time", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"zero threads", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"threads over 255", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"memory under 8 per thread", "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key},
		{"memory 4 TiB", "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key},
		{"memory overflows uint32", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{"time 1000", "$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + key},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"url alphabet", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.NewReplacer("+", "-", "/", "_").Replace(key) + "-_"},
		{"newline in hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:10] + "\n" + key[10:]},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$YWJj$" + key},
		{"short key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$YWJjZGVmZ2g"},
		{"empty key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"extra field", good + "$x"},
		{"no leading dollar", strings.TrimPrefix(good, "$")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), "password", tt.encoded)
			if !errors.Is(err, ErrMalformedHash) {
				t.Errorf("err = %v, want ErrMalformedHash", err)
			}
			if ok || rehash {
				t.Errorf("Verify = (%v, %v), want (false, false)", ok, rehash)
			}
		})
	}
}

func TestHashWaitsForSlot(t *testing.T) {
	p := TestParams()
	p.MaxConcurrent = 1
	h := NewHasher(p)
	encoded, err := h.Hash(context.Background(), "password")
	if err != nil {
		t.Fatal(err)
	}
	// Occupy the only slot, as a long hash in another request would.
	h.sem <- struct{}{}

	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"Hash", func(ctx context.Context) error { _, err := h.Hash(ctx, "password"); return err }},
		{"Verify", func(ctx context.Context) error { _, _, err := h.Verify(ctx, "password", encoded); return err }},
		{"DummyVerify", h.DummyVerify},
	}
	for _, c := range calls {
		t.Run(c.name+" gives up when ctx ends", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if err := c.call(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want context.DeadlineExceeded", err)
			}
		})
		t.Run(c.name+" refuses a cancelled ctx", func(t *testing.T) {
			<-h.sem // free the slot: the cancelled ctx alone must stop it
			defer func() { h.sem <- struct{}{} }()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := c.call(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		})
	}

	t.Run("proceeds once the slot is free", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := h.Hash(context.Background(), "password")
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("Hash returned (%v) while the slot was taken", err)
		case <-time.After(20 * time.Millisecond):
		}
		<-h.sem
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestDummyVerifyCostsAsMuchAsVerify(t *testing.T) {
	for _, p := range []Params{TestParams(), DefaultParams(), {Memory: 4096, Time: 3, Threads: 2, SaltLen: 32, KeyLen: 64}} {
		h := NewHasher(p)
		got, err := decodeHash(h.dummy)
		if err != nil {
			t.Fatal(err)
		}
		want := h.Params()
		if got.memory != want.Memory || got.time != want.Time || got.threads != want.Threads ||
			uint32(len(got.salt)) != want.SaltLen || uint32(len(got.key)) != want.KeyLen {
			t.Errorf("dummy hash %q does not have the hasher's parameters %+v", h.dummy, want)
		}
		if err := h.DummyVerify(context.Background()); err != nil {
			t.Errorf("DummyVerify: %v", err)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       Params
		wantErr bool
	}{
		{"default", DefaultParams(), false},
		{"test", TestParams(), false},
		{"zero takes defaults", Params{}, false},
		{"memory over 1 GiB", Params{Memory: 1<<20 + 1}, true},
		{"memory under 8 KiB per thread", Params{Memory: 16, Threads: 4}, true},
		{"time over 100", Params{Time: 101}, true},
		{"salt too short", Params{SaltLen: 4}, true},
		{"key too short", Params{KeyLen: 8}, true},
		{"key too long", Params{KeyLen: 128}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("Validate = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewHasherDefaultsZeroFields(t *testing.T) {
	got := NewHasher(Params{Memory: 64}).Params()
	want := DefaultParams()
	want.Memory = 64
	if got != want {
		t.Errorf("Params = %+v, want %+v", got, want)
	}
}

func FuzzVerifyEncoded(f *testing.F) {
	h := NewHasher(TestParams())
	// Built with a fixed salt, not by Hash: the fuzzer runs this in several
	// processes, which must agree on which input is the good one.
	salt := []byte("fixed salt 16 by")
	good := encodeHash(phc{memory: 64, time: 1, threads: 1, salt: salt, key: argon2.IDKey([]byte("password"), salt, 1, 64, 1, 32)})
	if ok, _, err := h.Verify(context.Background(), "password", good); !ok || err != nil {
		f.Fatalf("Verify(good) = %v, %v", ok, err)
	}
	f.Add(good)
	f.Add(NewHasher(DefaultParams()).dummy)
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, encoded string) {
		p, err := decodeHash(encoded)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v does not wrap ErrMalformedHash", err)
			}
			return
		}
		// Only the canonical form is accepted, so it must re-encode to itself.
		if re := encodeHash(p); re != encoded {
			t.Fatalf("accepted %q but it re-encodes as %q", encoded, re)
		}
		if p.memory > maxMemory || p.time > maxTime || p.time < 1 || p.threads < 1 || p.memory < 8*uint32(p.threads) {
			t.Fatalf("accepted out-of-bounds parameters in %q", encoded)
		}
		// Run the whole Verify only when it is cheap, to keep the fuzzer fast.
		if p.memory <= 256 && p.time <= 2 {
			ok, _, err := h.Verify(context.Background(), "password", encoded)
			if err != nil {
				t.Fatalf("Verify of a parsable hash: %v", err)
			}
			if ok && encoded != good {
				t.Fatalf("password matched a hash it was not hashed into: %q", encoded)
			}
		}
	})
}
