// Package mail sends Fluxhook's outgoing mail: password-reset and
// email-verification tokens and dashboard invitations.
//
// It provides concrete senders only (SMTP, and Log for development); the
// packages that send mail declare the one-method interface they need.
package mail

import "errors"

// Message is one plain-text mail to one recipient.
type Message struct {
	To      string // an RFC 5322 address, with or without a display name
	Subject string
	Text    string
}

// ErrInvalidMessage is returned, wrapped, for a message that cannot be
// sent as given, such as one whose header fields contain line breaks.
var ErrInvalidMessage = errors.New("mail: invalid message")
