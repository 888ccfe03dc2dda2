package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// EndedSession is a session whose access tokens must stop working before
// they expire: Until is when the last of them expires anyway.
type EndedSession struct {
	ID      string
	EndedAt time.Time
	Until   time.Time
}

// EndSessions records that the sessions with the given ids ended at at,
// their access tokens lasting at most until until. A session already
// recorded keeps its first record. Ids that are not UUIDs are skipped:
// no token names such a session.
func (q *Queries) EndSessions(ctx context.Context, ids []string, at, until time.Time) error {
	var sb strings.Builder
	args := []any{q.d.t(at), q.d.t(until)}
	for _, id := range ids {
		if !validID(id) {
			continue
		}
		if len(args) > 2 {
			sb.WriteByte(',')
		}
		args = append(args, id)
		fmt.Fprintf(&sb, "($%d, $1, $2)", len(args))
	}
	if len(args) == 2 {
		return nil
	}
	_, err := q.w.ExecContext(ctx, `INSERT INTO revoked_sessions (id, ended_at, expires_at) VALUES `+sb.String()+`
		ON CONFLICT (id) DO NOTHING`, args...)
	return wrapErr("end sessions", err)
}

// EndedSessions returns the sessions recorded as ended at or after since
// whose tokens have not all expired by now: all of them for a zero since.
func (q *Queries) EndedSessions(ctx context.Context, since, now time.Time) ([]EndedSession, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT id, ended_at, expires_at FROM revoked_sessions
		WHERE ended_at >= $1 AND expires_at > $2`, q.d.t(since), q.d.t(now))
	if err != nil {
		return nil, wrapErr("list ended sessions", err)
	}
	defer rows.Close()
	var out []EndedSession
	for rows.Next() {
		var s EndedSession
		if err := rows.Scan(&s.ID, timeCol{&s.EndedAt}, timeCol{&s.Until}); err != nil {
			return nil, wrapErr("list ended sessions", err)
		}
		out = append(out, s)
	}
	return out, wrapErr("list ended sessions", rows.Err())
}
