// Package events is Fluxhook's messaging layer on NATS JetStream: the
// connection to the server (or the embedded server of the all-in-one
// process), and the event envelope, subjects, streams and consumers.
//
// The package does not log on its own; connection state changes go to
// the logger its caller injects.
package events

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MinServerVersion is the oldest NATS server Fluxhook runs against.
// Older servers accept the stream settings it relies on (message
// schedules, AllowMsgSchedules) and then silently ignore them, which
// would lose delayed retries instead of failing loudly.
const MinServerVersion = "2.12.0"

// ErrServerTooOld is matched with errors.Is by callers that want to tell
// an old server from an unreachable one.
var ErrServerTooOld = errors.New("NATS server too old")

type versionError struct{ msg string }

func (e *versionError) Error() string { return e.msg }
func (e *versionError) Is(target error) bool {
	return target == ErrServerTooOld
}

// CheckServerVersion returns an error unless v (as reported by the
// server, e.g. "2.12.1" or "2.12.0-RC.1") is MinServerVersion or newer.
// A pre-release of MinServerVersion is older than the release, as in
// semantic versioning; a version that cannot be read is refused.
func CheckServerVersion(v string) error {
	got, err := parseVersion(v)
	if err != nil {
		return &versionError{fmt.Sprintf("NATS server reports version %q, which Fluxhook cannot read: it needs %s or newer (message schedules, which delayed retries depend on)", v, MinServerVersion)}
	}
	min, _ := parseVersion(MinServerVersion)
	if got.less(min) {
		return &versionError{fmt.Sprintf("NATS server %s is too old: Fluxhook needs %s or newer (message schedules, which delayed retries depend on)", v, MinServerVersion)}
	}
	return nil
}

type version struct {
	major, minor, patch uint64
	pre                 bool
}

func parseVersion(s string) (version, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	s, _, _ = strings.Cut(s, "+") // build metadata does not order
	core, pre, hasPre := strings.Cut(s, "-")
	if hasPre && pre == "" {
		return version{}, errors.New("empty pre-release")
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return version{}, errors.New("not major.minor.patch")
	}
	var n [3]uint64
	for i, p := range parts {
		x, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return version{}, err
		}
		n[i] = x
	}
	return version{n[0], n[1], n[2], hasPre}, nil
}

func (a version) less(b version) bool {
	if a.major != b.major {
		return a.major < b.major
	}
	if a.minor != b.minor {
		return a.minor < b.minor
	}
	if a.patch != b.patch {
		return a.patch < b.patch
	}
	// Any pre-release precedes its release; two pre-releases of the
	// same version never both matter here, since MinServerVersion is a
	// release.
	return a.pre && !b.pre
}
