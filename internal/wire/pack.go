package wire

import (
	"bytes"
	"fmt"
)

// A DELIVERIES message carries a pack: one or more jobs, each encoded
// as EncodeJob does, one per line. An encoded job never holds a line
// break (its header has none, and a payload with one is compacted), so
// the lines split the jobs. A pack of one job is a job's encoding
// alone, which is what messages held before packs existed, so both read
// the same. Packing many jobs in one message is how one stored message
// (one fsync) covers many deliveries.

// MaxPackJobs and MaxPackBytes bound a pack (of jobs, or of events, which
// EVENTS messages carry the same way), so that a message stays far below
// NATS's 1 MiB default payload limit; an item larger than MaxPackBytes
// travels alone.
const (
	MaxPackJobs  = 256
	MaxPackBytes = 512 << 10
)

// AppendPack appends encoded (jobs as EncodeJob returned them) to dst as
// one pack.
func AppendPack(dst []byte, encoded ...[]byte) []byte {
	for i, e := range encoded {
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, e...)
	}
	return dst
}

// DecodePack parses a message body made by AppendPack. An error means
// the message can never be processed.
func DecodePack(data []byte) ([]Job, error) {
	n := bytes.Count(data, []byte{'\n'}) + 1
	if n > MaxPackJobs {
		return nil, fmt.Errorf("decode pack: %d jobs, at most %d are allowed", n, MaxPackJobs)
	}
	jobs := make([]Job, 0, n)
	for rest := data; ; {
		line, tail, more := bytes.Cut(rest, []byte{'\n'})
		j, err := DecodeJob(line)
		if err != nil {
			if len(jobs) == 0 && more {
				// A job written before packs, with a line break in its
				// payload: the whole message is that job.
				if j, err2 := DecodeJob(data); err2 == nil {
					return []Job{j}, nil
				}
			}
			return nil, fmt.Errorf("decode pack: job %d: %w", len(jobs)+1, err)
		}
		jobs = append(jobs, j)
		if !more {
			return jobs, nil
		}
		rest = tail
	}
}
