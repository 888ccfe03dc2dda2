package fluxhook

import "time"

// Kinds of Replay.
const (
	// ReplayEvents delivers again the kept events of a window that the
	// webhook's current subscription matches.
	ReplayEvents = "replay"
	// ReplayFailed retries every delivery of the webhook that failed for
	// good, from the delivery log.
	ReplayFailed = "retry_failed"
)

// States of a Replay. Pending and running ones are active: a webhook has
// at most one active replay.
const (
	ReplayPending   = "pending"
	ReplayRunning   = "running"
	ReplayDone      = "done"
	ReplayCancelled = "cancelled"
	ReplayError     = "failed"
)

// ReplayMissed is a Replay's Status option for deliveries never
// attempted: events the webhook missed while disabled or before it
// subscribed.
const ReplayMissed = "missed"

// Replay is a bulk re-delivery to one webhook, run in the background by
// a dispatcher, its progress kept in the database.
type Replay struct {
	ID        string `json:"id"`
	WebhookID string `json:"webhook_id"`
	Kind      string `json:"kind"`
	// Since and Until bound the events' timestamps (Until excluded) of a
	// replay; a retry of the failed takes the deliveries failed by
	// CreatedAt.
	Since *time.Time `json:"since,omitempty"`
	Until *time.Time `json:"until,omitempty"`
	// Status keeps only the events whose delivery to the webhook is in
	// this state now (a Delivery* status, or ReplayMissed); nil for all.
	Status *string `json:"status,omitempty"`
	State  string  `json:"state"`
	// EventsScanned counts the events read (of the window, or failed
	// deliveries), EventsMatched those the webhook receives, Queued the
	// deliveries handed to the workers so far.
	EventsScanned int64      `json:"events_scanned"`
	EventsMatched int64      `json:"events_matched"`
	Queued        int64      `json:"deliveries_queued"`
	Error         *string    `json:"error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`

	// IncludesMissed says that a replay delivers, beside the events the
	// webhook received, those it missed while disabled or before it
	// subscribed; Note says in a sentence what the replay covers, and
	// AvailableSince since when events are kept. Not stored.
	IncludesMissed bool       `json:"includes_missed"`
	Note           string     `json:"note,omitempty"`
	AvailableSince *time.Time `json:"available_since,omitempty"`

	// Cursor is where a replay taken up again goes on from.
	Cursor string `json:"-"`
}

// Active reports whether r has yet to finish.
func (r *Replay) Active() bool { return r.State == ReplayPending || r.State == ReplayRunning }
