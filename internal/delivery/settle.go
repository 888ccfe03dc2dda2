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

// verdict is the decision on one job's message. Every path through
// Handle ends in one, and settle alone carries it out, so that "the ack
// follows the durable effect" is checked in one place: an ack verdict
// is made only by commit and putBack once what they store is stored, and
// for a job whose webhook no longer exists.
type verdict struct {
	action  action
	delay   time.Duration // before redelivery, for nak
	outcome string        // counted in fluxhook_delivery_attempts_total; "" for none
}

// settle carries out v on msg.
func (w *Worker) settle(msg jetstream.Msg, v verdict) {
	if v.outcome != "" {
		w.metrics.outcome(v.outcome)
	}
	var err error
	switch v.action {
	case ack:
		err = msg.Ack()
	case nak:
		err = msg.NakWithDelay(v.delay)
	case term:
		err = msg.Term()
	default:
		// A verdict nobody made: hand the job back rather than lose it.
		w.logger.Error("delivery job without a verdict; handed back", "subject", msg.Subject())
		err = msg.Nak()
	}
	switch {
	case err == nil:
	case v.action == ack:
		// The message comes back after the ack wait, which at-least-once
		// allows: a duplicate with the same webhook-id, never a loss.
		w.logger.Warn("ack delivery job", "subject", msg.Subject(), "err", err)
	default:
		// It comes back after the ack wait instead of its delay; said
		// quietly, since while NATS is away every job would say it.
		w.logger.Debug("settle delivery job", "action", v.action.String(), "subject", msg.Subject(), "err", err)
	}
}
