package store

import (
	"context"
	"strconv"
	"strings"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// Delivered returns which of the given deliveries have an attempt
// recorded as delivered. The worker asks only for a message that comes
// back after a crash or a failure, so that it does not send again what
// it already delivered.
func (q *Queries) Delivered(ctx context.Context, deliveryIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	args := make([]any, 0, len(deliveryIDs)+1)
	args = append(args, fluxhook.DeliveryDelivered)
	var in strings.Builder
	for _, id := range deliveryIDs {
		if !validID(id) {
			continue // a malformed id was never recorded
		}
		if len(args) > 1 {
			in.WriteByte(',')
		}
		args = append(args, id)
		in.WriteString("$" + strconv.Itoa(len(args)))
	}
	if len(args) == 1 {
		return out, nil
	}
	rows, err := q.r.QueryContext(ctx, `SELECT DISTINCT delivery_id FROM delivery_attempts WHERE status = $1 AND delivery_id IN (`+in.String()+`)`, args...)
	if err != nil {
		return nil, wrapErr("look up delivered", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrapErr("look up delivered", err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("look up delivered", err)
	}
	return out, nil
}
