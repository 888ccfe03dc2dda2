package jsjson_test

import (
	"testing"

	"github.com/fluxhook/fluxhook/internal/jsjson"
)

// BenchmarkCanonical measures a typical event payload, which is made
// canonical once per event before fan-out.
func BenchmarkCanonical(b *testing.B) {
	in := []byte(`{"id":"0190f5a4-7c1e-7b9a-8f0e-2d6f4c1b3a59","event":"user.created","timestamp":"2024-05-01T12:00:00.123Z",` +
		`"data":{"user_id":"0190f5a4-0000-7b9a-8f0e-2d6f4c1b3a59","email":"ada@example.com","role":"user",` +
		`"metadata":{"plan":"pro","seats":12,"ratio":0.75,"tags":["a","b","c"],"2":"two","1":"one","note":"caf\u00e9 <ok>"}}}`)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsjson.Canonical(in); err != nil {
			b.Fatal(err)
		}
	}
}
