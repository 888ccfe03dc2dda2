package delivery

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// action is what becomes of a job's message, in JetStream's ack
// vocabulary.
type action int

const (
	ack  action = iota + 1 // done: its durable effect is stored (or nothing is left to do)
	nak                    // hand it back, to be redelivered after a delay
	term                   // never redeliver: it can never be processed
)

func (a action) String() string {
	switch a {
	case ack:
		return "ack"
	case nak:
		return "nak"
	case term:
		return "term"
	}
	return "none"
}

// verdict is the decision on one job. Every path through a job ends in
// one, and settle alone carries out a message's, so that "the ack follows
// the durable effect" is checked in one place: an ack verdict is made
// only by commit and durable once what they store is stored, and for a
// job whose webhook no longer exists or that was delivered already.
type verdict struct {
	action  action
	delay   time.Duration // before redelivery, for nak
	outcome string        // counted in fluxhook_delivery_attempts_total; "" for none
}

// settle carries out the verdicts of a message's jobs: an ack when every
// one is an ack, else a term for a message that can never be processed,
// else a nak after the longest delay asked for.
func (w *Worker) settle(msg jetstream.Msg, verdicts []verdict) {
	v := verdict{action: ack}
	for _, j := range verdicts {
		if j.outcome != "" {
			w.metrics.outcome(j.outcome)
		}
		switch {
		case j.action == term:
			v.action = term
		case j.action == nak && v.action != term:
			v.action, v.delay = nak, max(v.delay, j.delay)
		case j.action != ack && j.action != nak:
			// A verdict nobody made: hand the message back rather than
			// lose a job.
			w.logger.Error("delivery job without a verdict; its message is handed back", "subject", msg.Subject())
			if v.action == ack {
				v.action, v.delay = nak, 5*time.Second
			}
		}
	}
	var err error
	switch v.action {
	case ack:
		err = msg.Ack()
	case nak:
		err = msg.NakWithDelay(v.delay)
	case term:
		err = msg.Term()
	}
	switch {
	case err == nil:
	case v.action == ack:
		// The message comes back after the ack wait, which at-least-once
		// allows: its delivered jobs are then not sent again.
		w.logger.Warn("ack delivery jobs", "subject", msg.Subject(), "err", err)
	default:
		// It comes back after the ack wait instead of its delay; said
		// quietly, since while NATS is away every message would say it.
		w.logger.Debug("settle delivery jobs", "action", v.action.String(), "subject", msg.Subject(), "err", err)
	}
}
