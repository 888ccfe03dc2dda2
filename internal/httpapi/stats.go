package httpapi

import (
	"math"
	"net/http"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

// The dashboard's picture of delivery health, from the delivery log the
// worker already keeps: no Prometheus needed for the all-in-one.

// healthWindow is how far back the webhook list's health looks.
const healthWindow = 24 * time.Hour

// lastAttempt is the newest attempt of a webhook, in short.
type lastAttempt struct {
	ID         string    `json:"id"`
	DeliveryID string    `json:"delivery_id"`
	Event      string    `json:"event"`
	Status     string    `json:"status"`
	StatusCode *int      `json:"status_code,omitempty"`
	Error      *string   `json:"error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// webhookHealth is one webhook's health at a glance.
type webhookHealth struct {
	WebhookID string `json:"webhook_id"`
	Attempts  int    `json:"attempts"`
	Delivered int    `json:"delivered"`
	Failed    int    `json:"failed"`
	// SuccessRatio is delivered / attempts; null without attempts.
	SuccessRatio *float64     `json:"success_ratio"`
	LastAttempt  *lastAttempt `json:"last_attempt"`
}

// webhookStats is GET /stats/webhooks: for each webhook the caller sees,
// its attempts over the last 24 hours and its latest attempt.
func (s *Server) webhookStats(w http.ResponseWriter, r *http.Request) error {
	a := principalFrom(r.Context())
	hooks, err := s.webhooks.List(r.Context(), a)
	if err != nil {
		return err
	}
	since := time.Now().Add(-healthWindow).UTC()
	counts, err := s.log.AttemptCountsSince(r.Context(), ownerOf(a), since)
	if err != nil {
		return err
	}
	out := make([]webhookHealth, 0, len(hooks))
	for _, h := range hooks {
		c := counts[h.ID]
		wh := webhookHealth{WebhookID: h.ID, Attempts: c.Attempts, Delivered: c.Delivered, Failed: c.Attempts - c.Delivered}
		if c.Attempts > 0 {
			ratio := float64(c.Delivered) / float64(c.Attempts)
			wh.SuccessRatio = &ratio
		}
		// One index seek per webhook: the latest attempt may be older
		// than the window.
		last, err := s.log.LastAttempt(r.Context(), h.ID)
		if err != nil {
			return err
		}
		if last != nil {
			wh.LastAttempt = &lastAttempt{ID: last.ID, DeliveryID: last.DeliveryID, Event: last.Event, Status: last.Status,
				StatusCode: last.StatusCode, Error: last.Error, CreatedAt: last.CreatedAt}
		}
		out = append(out, wh)
	}
	writeJSON(w, http.StatusOK, map[string]any{"since": since, "webhooks": out})
	return nil
}

// timelinePoint is one minute of the delivery timeline.
type timelinePoint struct {
	T         time.Time `json:"t"`
	Attempts  int       `json:"attempts"`
	Delivered int       `json:"delivered"`
	Failed    int       `json:"failed"`
	// P95MS is the 95th percentile of the attempts' durations, read from
	// latency buckets 25 % apart; null when no attempt took any time.
	P95MS *int `json:"p95_ms"`
}

// latencies counts attempts by store.LatencyBounds bucket.
type latencies map[int]int

// p95 reads the 95th percentile from the buckets, interpolating within
// the bucket it falls in.
func (l latencies) p95() *int {
	n := 0
	for b, c := range l {
		if b >= 0 {
			n += c
		}
	}
	if n == 0 {
		return nil
	}
	rank := int(math.Ceil(0.95 * float64(n)))
	bounds := store.LatencyBounds
	seen := 0
	for b := 0; b <= len(bounds); b++ {
		c := l[b]
		if seen+c < rank {
			seen += c
			continue
		}
		lo, hi := 0, 0
		if b > 0 {
			lo = bounds[b-1]
		}
		if b < len(bounds) {
			hi = bounds[b]
		} else {
			hi = lo * 5 / 4 // slower than the last bound
		}
		v := lo + int(math.Round(float64(hi-lo)*float64(rank-seen)/float64(c)))
		return &v
	}
	return nil
}

// deliveryStats is GET /stats/deliveries: attempts per minute (delivered
// and failed) and their p95 latency over the last hours, for one
// webhook or all the caller sees.
func (s *Server) deliveryStats(w http.ResponseWriter, r *http.Request) error {
	a := principalFrom(r.Context())
	details := map[string]string{}
	hours := queryInt(r, "hours", 6, 1, 48, details)
	if len(details) > 0 {
		return fluxhook.Invalid(details)
	}
	body := map[string]any{}
	hookID := r.URL.Query().Get("webhook_id")
	if hookID != "" {
		hook, err := s.webhooks.Get(r.Context(), a, hookID)
		if err != nil {
			return err
		}
		hookID = hook.ID
		body["webhook_id"] = hookID
	}
	to := time.Now().UTC().Truncate(time.Minute).Add(time.Minute) // the current minute, so far
	from := to.Add(-time.Duration(hours) * time.Hour)
	rows, err := s.log.AttemptTimeline(r.Context(), ownerOf(a), hookID, from, to)
	if err != nil {
		return err
	}
	points := make([]timelinePoint, hours*60)
	lat := make([]latencies, len(points))
	all := latencies{}
	for i := range points {
		points[i].T = from.Add(time.Duration(i) * time.Minute)
		lat[i] = latencies{}
	}
	var total timelinePoint
	for _, row := range rows {
		i := int(row.Minute.Sub(from) / time.Minute)
		if i < 0 || i >= len(points) {
			continue
		}
		p := &points[i]
		p.Attempts += row.Count
		total.Attempts += row.Count
		if row.Delivered {
			p.Delivered += row.Count
			total.Delivered += row.Count
		} else {
			p.Failed += row.Count
			total.Failed += row.Count
		}
		lat[i][row.Bucket] += row.Count
		all[row.Bucket] += row.Count
	}
	for i := range points {
		points[i].P95MS = lat[i].p95()
	}
	total.T, total.P95MS = from, all.p95()
	body["from"], body["to"], body["bucket_seconds"] = from, to, 60
	body["points"], body["totals"] = points, total
	writeJSON(w, http.StatusOK, body)
	return nil
}
