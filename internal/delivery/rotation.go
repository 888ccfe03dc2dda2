package delivery

import (
	"net/http"
	"sync"
)

// rotation decides which secret signs X-Fluxbase-Signature while a
// rotated-out secret is still inside its overlap. That header has room
// for one signature, and a receiver written the seeds' way checks it
// against the one secret it holds: the previous one until its owner
// switches, the new one after. So deliveries are signed with the
// previous secret (nothing changes for the receiver until it switches)
// until the receiver rejects one (401 or 403), and from then on with the
// current one, remembering per webhook which one the receiver takes. The
// rejected attempt is retried on the schedule, as every non-2xx is, now
// signed with the other secret: a receiver that switches at any moment
// inside the overlap loses no delivery, and sees one rejected attempt per
// worker replica (and per switch back). Standard Webhooks' header carries
// a signature per secret and needs none of this.
type rotation struct {
	mu      sync.Mutex
	current map[string]bool // webhook → its receiver takes the current secret
}

// maxRotations bounds the webhooks remembered; entries go when their
// overlap ends, and past the bound the memory starts over (a receiver
// then sees one more rejected attempt).
const maxRotations = 10_000

// order returns secrets (current first, as the webhook keeps them) in
// the order Sign takes them, the one for X-Fluxbase-Signature first, and
// whether that one is the current secret.
func (r *rotation) order(id string, secrets []string) (ordered []string, current bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(secrets) < 2 {
		delete(r.current, id) // no overlap, or it is over
		return secrets, true
	}
	if r.current[id] {
		return secrets, true
	}
	return []string{secrets[1], secrets[0]}, false
}

// observe notes the receiver's answer to an attempt during an overlap
// whose X-Fluxbase-Signature used the current secret or not: a rejection
// means the receiver holds the other one.
func (r *rotation) observe(id string, overlap, current bool, status int) {
	if !overlap || (status != http.StatusUnauthorized && status != http.StatusForbidden) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil || len(r.current) >= maxRotations {
		r.current = map[string]bool{}
	}
	r.current[id] = !current
}
