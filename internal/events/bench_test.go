package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkJobThroughput measures jobs published, consumed and acked
// per second through an embedded server on an in-process connection,
// with a 1 KiB payload. "sync=always" is the all-in-one's server, which
// syncs every write to disk; "sync=default" is nats-server's default
// (sync every 2 minutes) and shows what the disk costs.
func BenchmarkJobThroughput(b *testing.B) {
	tests := []struct {
		name        string
		syncAlways  bool
		concurrency int
		doubleAck   bool
	}{
		{"sync=always/handlers=64/ack", true, 64, false},
		{"sync=always/handlers=64/double-ack", true, 64, true},
		{"sync=always/handlers=256/ack", true, 256, false},
		{"sync=default/handlers=64/ack", false, 64, false},
		{"sync=default/handlers=64/double-ack", false, 64, true},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			var s *server.Server
			if tt.syncAlways {
				var err error
				if s, err = StartEmbedded(EmbeddedOptions{StoreDir: b.TempDir()}); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
			} else {
				s = startServer(b, &server.Options{JetStream: true, StoreDir: b.TempDir(), DontListen: true, NoLog: true, NoSigs: true})
			}
			nc, err := ConnectEmbedded(s, "fluxhook-bench", nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(nc.Close)
			p := pipelineOn(b, nc, ConsumersConfig{})

			payload := json.RawMessage(`{"pad":"` + strings.Repeat("x", 1000) + `"}`)
			var handled atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			consumed := make(chan error, 1)
			go func() {
				consumed <- Consume(ctx, p.worker(b), tt.concurrency, func(ctx context.Context, msg jetstream.Msg) {
					var err error
					if tt.doubleAck {
						err = msg.DoubleAck(ctx)
					} else {
						err = msg.Ack()
					}
					if err == nil {
						handled.Add(int64(bytes.Count(msg.Data(), []byte{'\n'}) + 1))
					}
				})
			}()

			const batch = 1000
			b.ResetTimer()
			start := time.Now()
			for sent := 0; sent < b.N; sent += batch {
				jobs := testJobs(min(batch, b.N-sent), fmt.Sprintf("b%d-", sent))
				for i := range jobs {
					jobs[i].Payload = payload
				}
				pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
				err := p.pub.PublishJobs(pctx, jobs)
				pcancel()
				if err != nil {
					b.Fatal(err)
				}
			}
			published := time.Since(start)
			for handled.Load() < int64(b.N) {
				if time.Since(start) > 5*time.Minute {
					b.Fatalf("%d of %d jobs handled after 5 minutes", handled.Load(), b.N)
				}
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			if err := <-consumed; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
			b.ReportMetric(float64(b.N)/published.Seconds(), "published/s")
		})
	}
}
