package account

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/fluxhook/fluxhook/internal/mail"
)

// Sender sends one mail.
type Sender interface {
	Send(ctx context.Context, m mail.Message) error
}

// MailQueue sends mails in the background, so that a request does not
// wait for SMTP and its response time does not reveal whether a mail was
// sent (password reset answers the same for known and unknown addresses).
// The queue is bounded; when it is full a mail is dropped and logged.
//
// It is not a lifecycle component: it must outlive the HTTP server that
// fills it, so the process closes it after the server has stopped.
type MailQueue struct {
	sender Sender
	logger *slog.Logger
	ch     chan mail.Message
	done   chan struct{}
	mu     sync.RWMutex
	closed bool
}

// NewMailQueue starts a queue of up to size mails in front of sender.
func NewMailQueue(sender Sender, logger *slog.Logger, size int) *MailQueue {
	q := &MailQueue{sender: sender, logger: logger, ch: make(chan mail.Message, size), done: make(chan struct{})}
	go q.run()
	return q
}

// Enqueue queues m without waiting.
func (q *MailQueue) Enqueue(m mail.Message) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.logger.Warn("mail queue closed; mail dropped", "subject", m.Subject)
		return
	}
	select {
	case q.ch <- m:
	default:
		q.logger.Warn("mail queue full; mail dropped", "subject", m.Subject)
	}
}

// Close sends what is queued, waiting at most until ctx ends.
func (q *MailQueue) Close(ctx context.Context) {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
	case <-ctx.Done():
		q.logger.Warn("mails still queued at shutdown were not sent", "count", len(q.ch))
	}
}

func (q *MailQueue) run() {
	defer close(q.done)
	for m := range q.ch {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := q.sender.Send(ctx, m); err != nil {
			q.logger.Error("send mail", "subject", m.Subject, "err", err)
		}
		cancel()
	}
}
