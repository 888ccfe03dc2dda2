// Package outbound is how Fluxhook reaches the outside world: the HTTP client
// that delivers webhooks, the checks a webhook URL passes when it is created
// or updated, and the classification of what came back.
//
// A webhook URL is chosen by whoever creates the webhook, so it is treated as
// hostile. The same Policy is applied twice: once to the URL when it is saved
// (CheckURL, for a message the user can act on) and again to the address the
// client actually connects to, after DNS (NewClient), because a name that
// resolved to a public address yesterday may resolve to 127.0.0.1 today.
// The second check is the one that protects; the first one is a courtesy.
package outbound

import (
	"net/netip"
)

// URLError is a webhook URL that breaks a rule. Reason says what is wrong
// with the URL, for the person who typed it, without naming the field
// ("must use https", "host 10.0.0.5 is a private address; …"): the API
// shows it as details.url, and its message puts "url" in front once.
type URLError struct {
	Reason string
}

// Error is the reason with the field named: "url must use https".
func (e *URLError) Error() string { return "url " + e.Reason }

// BlockedError is a connection the policy refused before it was made: no
// packet was sent to the destination. Retrying cannot help, so Classify
// treats it as a failure.
type BlockedError struct {
	Host string     // the host name refused by name; empty when refused by address
	Addr netip.Addr // the address refused after resolution; invalid when refused by name
	Why  string     // what the destination is, e.g. "a loopback address"
}

func (e *BlockedError) Error() string {
	target := e.Host
	if e.Addr.IsValid() {
		target = e.Addr.String()
	}
	return "outbound: refused to connect to " + target + ": " + e.Why + "; only public destinations are allowed"
}
