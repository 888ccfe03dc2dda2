package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// recordingStore is a committer's store that keeps what each message
// held, and can hold a message back until released.
type recordingStore struct {
	mu       sync.Mutex
	messages [][]string // items of each stored message, in store order
	keys     []string
	hold     chan struct{} // when not nil, each store waits for a receive
	fail     func(items [][]byte) error
}

func (r *recordingStore) store(ctx context.Context, key, _ string, items [][]byte) error {
	if r.hold != nil {
		select {
		case <-r.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if r.fail != nil {
		if err := r.fail(items); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var m []string
	for _, it := range items {
		m = append(m, string(it))
	}
	r.messages = append(r.messages, m)
	r.keys = append(r.keys, key)
	return nil
}

func (r *recordingStore) stored() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.messages)
}

// TestCommitterLoneItemGoesAtOnce: with nothing in flight an item is
// stored at once, alone: no linger.
func TestCommitterLoneItemGoesAtOnce(t *testing.T) {
	r := &recordingStore{}
	c := &committer{store: r.store, maxItems: 10, maxBytes: 1 << 20, timeout: time.Second}
	start := time.Now()
	if err := c.add(context.Background(), "", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("a lone item took %v", took)
	}
	if got := r.stored(); len(got) != 1 || !slices.Equal(got[0], []string{"a"}) {
		t.Fatalf("stored %v", got)
	}
}

// TestCommitterPacksWhileAStoreIsInFlight: the items that arrive while a
// message is being stored leave together in the next round, one message
// per key, split at the bounds.
func TestCommitterPacksWhileAStoreIsInFlight(t *testing.T) {
	r := &recordingStore{hold: make(chan struct{})}
	c := &committer{store: r.store, maxItems: 4, maxBytes: 1 << 20, timeout: 10 * time.Second}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	wg.Go(func() { errs <- c.add(ctx, "k", []byte("first")) })
	// Wait until the first round is in flight (its store is held).
	waitUntil(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.busy && len(c.queue) == 0 })
	for i := range 6 {
		wg.Go(func() { errs <- c.add(ctx, "k", []byte(fmt.Sprint("k", i))) })
	}
	wg.Go(func() { errs <- c.addAll(ctx, "other", [][]byte{[]byte("o1"), []byte("o2")}) })
	waitUntil(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.queue) == 8 })
	// Release the first round, then the three messages of the second.
	for range 4 {
		r.hold <- struct{}{}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := r.stored()
	if len(got) != 4 {
		t.Fatalf("%d messages %v, want 4: the first item alone, then 6 items of k in 4+2, and the 2 of other in one", len(got), got)
	}
	sizes := map[int]int{}
	for _, m := range got[1:] {
		sizes[len(m)]++
	}
	if !slices.Equal(got[0], []string{"first"}) || sizes[4] != 1 || sizes[2] != 2 {
		t.Fatalf("messages %v", got)
	}
}

// TestCommitterFailureIsPerMessage: an item learns the fate of its own
// message, not of the round's other messages.
func TestCommitterFailureIsPerMessage(t *testing.T) {
	boom := errors.New("boom")
	r := &recordingStore{fail: func(items [][]byte) error {
		if string(items[0]) == "bad" {
			return boom
		}
		return nil
	}}
	c := &committer{store: r.store, maxItems: 10, maxBytes: 1 << 20, timeout: time.Second}
	ctx := context.Background()
	if err := c.addAll(ctx, "b", [][]byte{[]byte("bad")}); !errors.Is(err, boom) {
		t.Fatalf("the failed message's item got %v", err)
	}
	if err := c.add(ctx, "g", []byte("good")); err != nil {
		t.Fatalf("a later item got %v", err)
	}
}

// TestCommitterByteBound: a message never holds more than maxBytes of
// items (with their separators), except a single item larger than that.
func TestCommitterByteBound(t *testing.T) {
	c := &committer{maxItems: 100, maxBytes: 10}
	var batch []*commitItem
	for _, s := range []string{"aaaa", "bbbb", "cccc", "dddddddddddddd", "e"} {
		batch = append(batch, &commitItem{key: "", data: []byte(s)})
	}
	var sizes []int
	for _, m := range c.messages(batch) {
		sizes = append(sizes, len(m))
	}
	if !slices.Equal(sizes, []int{2, 1, 1, 1}) {
		t.Fatalf("message sizes %v, want [2 1 1 1]", sizes)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCommitterTriesAgainWhenUnanswered: a store that gets no answer (a
// stream leader that died with the message) is tried again with the same
// message id, well before the message's whole timeout, and an election's
// "no responders" likewise; a refusal is not tried again.
func TestCommitterTriesAgainWhenUnanswered(t *testing.T) {
	var (
		mu    sync.Mutex
		ids   []string
		tries int
	)
	first := []error{nil, nats.ErrNoResponders}
	for _, firstErr := range first {
		mu.Lock()
		ids, tries = nil, 0
		mu.Unlock()
		c := &committer{maxItems: 10, maxBytes: 1 << 20, timeout: time.Minute, tryTimeout: 100 * time.Millisecond,
			store: func(ctx context.Context, _, id string, _ [][]byte) error {
				mu.Lock()
				tries++
				n := tries
				ids = append(ids, id)
				mu.Unlock()
				if n == 1 {
					if firstErr != nil {
						return firstErr
					}
					<-ctx.Done() // never answered
					return ctx.Err()
				}
				return nil
			}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.add(ctx, "", []byte("a"))
		cancel()
		if err != nil {
			t.Fatalf("first try %v: add: %v, want stored by a second try", firstErr, err)
		}
		mu.Lock()
		if tries != 2 || ids[0] == "" || ids[0] != ids[1] {
			t.Fatalf("first try %v: tries %d with ids %q, want 2 with one id", firstErr, tries, ids)
		}
		mu.Unlock()
	}

	refused := errors.New("maximum messages exceeded")
	n := 0
	c := &committer{maxItems: 10, maxBytes: 1 << 20, timeout: time.Minute, tryTimeout: 100 * time.Millisecond,
		store: func(context.Context, string, string, [][]byte) error { n++; return refused }}
	if err := c.add(context.Background(), "", []byte("a")); !errors.Is(err, refused) || n != 1 {
		t.Fatalf("a refusal: %v after %d tries, want it after 1", err, n)
	}
}
