package bench

import (
	"os"
	"testing"
	"time"
)

// diskAppend is about a delivery job's size in the DELIVERIES stream.
const diskAppend = 600

// diskResult is how many synced appends a second one file takes here:
// the rate an embedded JetStream that syncs every write can store one
// stream's messages and tombstones at, since it writes and syncs them
// one after another.
type diskResult struct {
	appends float64
}

func disk(b *testing.B) diskResult {
	return once("disk", func() diskResult { return measureDisk(b) })
}

// measureDisk appends diskAppend bytes and fsyncs, for a second, in the
// directory the benchmark's fluxhook keeps its data in (b.TempDir's).
func measureDisk(b *testing.B) diskResult {
	f, err := os.CreateTemp("", "fluxhook-bench-disk-")
	if err != nil {
		b.Fatalf("disk: %v", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, diskAppend)
	n, start := 0, time.Now()
	for time.Since(start) < time.Second {
		if _, err := f.Write(buf); err != nil {
			b.Fatalf("disk: %v", err)
		}
		if err := f.Sync(); err != nil {
			b.Fatalf("disk: %v", err)
		}
		n++
	}
	return diskResult{appends: float64(n) / time.Since(start).Seconds()}
}
