package mail

import (
	"context"
	"log/slog"
)

// Log "sends" mail by logging it, for development and for installations
// without SMTP. It is the one place this library logs, which is why the
// logger is a required argument rather than a default.
type Log struct {
	logger      *slog.Logger
	includeBody bool
}

// NewLog returns a Log writing to logger, which must not be nil. The text
// is logged only with includeBody, because mails carry one-time tokens
// and logs are kept and read more widely than mailboxes; the all-in-one
// development mode turns it on so that the tokens can be used at all.
func NewLog(logger *slog.Logger, includeBody bool) *Log {
	return &Log{logger: logger, includeBody: includeBody}
}

// Send logs m at INFO and always succeeds.
func (l *Log) Send(ctx context.Context, m Message) error {
	attrs := []slog.Attr{slog.String("to", m.To), slog.String("subject", m.Subject)}
	if l.includeBody {
		attrs = append(attrs, slog.String("text", m.Text))
	}
	l.logger.LogAttrs(ctx, slog.LevelInfo, "mail not sent, logged instead", attrs...)
	return nil
}
