package dispatch

import (
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

// Matcher decides for one webhook, by its subscription as it is now,
// whether it receives an event: its event names, its owner's visibility
// and its filter, exactly as the dispatcher decides it (the same index
// and filter code). A replay uses it to pick the events of its window.
type Matcher struct {
	ix *index
}

// NewMatcher returns the matcher of h, active or not. A filter that does
// not compile matches nothing, as in the dispatcher.
func NewMatcher(h store.ActiveWebhook) *Matcher {
	ix, _ := buildIndex([]store.ActiveWebhook{h}, programs{})
	return &Matcher{ix: ix}
}

// Match reports whether the webhook receives e.
func (m *Matcher) Match(e *fluxhook.Event) bool {
	subs := m.ix.match(e)
	return len(subs) > 0 && len(keep(subs, e, nil)) > 0
}
