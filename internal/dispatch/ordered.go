package dispatch

import (
	"github.com/fluxhook/fluxhook/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// streamSeq is msg's sequence in the EVENTS stream: the order in which
// its events were accepted (0 when it has none, outside JetStream).
func streamSeq(msg jetstream.Msg) uint64 {
	meta, err := msg.Metadata()
	if err != nil {
		return 0
	}
	return meta.Sequence.Stream
}

// place gives the ordered jobs of the i-th event of the message at seq
// their place in the order of acceptance: the ordered lane delivers
// each key's jobs in that order, whatever order the dispatcher stores
// them in.
func place(jobs []wire.Job, seq uint64, i int) {
	for k := range jobs {
		if o := jobs[k].Order; o != nil {
			o.Seq, o.Index = seq, i
		}
	}
}
