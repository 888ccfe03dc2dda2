package signing_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/signing"
)

// BenchmarkSign measures one delivery attempt's signing of a 1 KiB body, as
// the delivery worker does it, with one secret and during a rotation.
func BenchmarkSign(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	ts := time.Unix(1700000000, 0)
	for _, bc := range []struct {
		name    string
		secrets []string
	}{
		{"one secret", []string{signing.NewSecret()}},
		{"rotation", []string{signing.NewSecret(), signing.NewSecret()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := make(http.Header, 8)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				signing.Sign(h, bc.secrets, "0190f5a4-7c1e-7b9a-8f0e-2d6f4c1b3a59", ts, body)
			}
		})
	}
}
