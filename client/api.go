package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

const v1 = "/api/v1"

// SignIn signs an app user in and keeps the session.
func (c *Client) SignIn(ctx context.Context, email, password string) (*AuthResponse, error) {
	var res AuthResponse
	if err := c.send(ctx, http.MethodPost, v1+"/auth/signin", map[string]string{"email": email, "password": password}, nil, "", &res); err != nil {
		return nil, err
	}
	c.startSession(&res, false)
	return &res, nil
}

// SignUp creates an app user and keeps their session.
func (c *Client) SignUp(ctx context.Context, req SignUpRequest) (*AuthResponse, error) {
	var res AuthResponse
	if err := c.send(ctx, http.MethodPost, v1+"/auth/signup", req, nil, "", &res); err != nil {
		return nil, err
	}
	c.startSession(&res, false)
	return &res, nil
}

// AdminLogin signs a dashboard user in and keeps the session.
func (c *Client) AdminLogin(ctx context.Context, email, password string) (*AuthResponse, error) {
	var res AuthResponse
	if err := c.send(ctx, http.MethodPost, v1+"/admin/login", map[string]string{"email": email, "password": password}, nil, "", &res); err != nil {
		return nil, err
	}
	c.startSession(&res, true)
	return &res, nil
}

// SignOut ends the session on the server and forgets it, even when the
// server call fails.
func (c *Client) SignOut(ctx context.Context) error {
	s := c.Session()
	if s == nil {
		return nil
	}
	path := v1 + "/auth/signout"
	if s.Admin {
		path = v1 + "/admin/logout"
	}
	err := c.call(ctx, http.MethodPost, path, nil, nil, nil)
	c.SetSession(nil)
	return err
}

// CurrentUser returns the signed-in user.
func (c *Client) CurrentUser(ctx context.Context) (*User, error) {
	var u User
	return &u, c.call(ctx, http.MethodGet, v1+"/auth/user", nil, nil, &u)
}

// PublishOption configures PublishEvent.
type PublishOption func(*publishOptions)

type publishOptions struct{ key, orderingKey string }

// IdempotencyKey makes retries of a publish safe: the same key from the
// same user within 24 h is stored once.
func IdempotencyKey(key string) PublishOption { return func(o *publishOptions) { o.key = key } }

// OrderingKey puts the event in a sequence of its own (e.g. a customer
// id): webhooks with ordering "fifo" get the events of one key in the
// order they were accepted, and other keys in parallel.
func OrderingKey(key string) PublishOption { return func(o *publishOptions) { o.orderingKey = key } }

// PublishEvent publishes an event of your own (e.g. order.paid) to the
// webhooks subscribed to it; it returns once the server has stored it.
func (c *Client) PublishEvent(ctx context.Context, event string, data any, opts ...PublishOption) (*PublishResult, error) {
	var o publishOptions
	for _, f := range opts {
		f(&o)
	}
	var hdr []string
	if o.key != "" {
		hdr = []string{"Idempotency-Key", o.key}
	}
	body := map[string]any{"event": event, "data": data}
	if o.orderingKey != "" {
		body["ordering_key"] = o.orderingKey
	}
	var res PublishResult
	err := c.call(ctx, http.MethodPost, v1+"/events", body, nil, &res, hdr...)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// BatchEvent is one event of PublishEvents. ID, when set, is its
// idempotency key: the same ID from the same user within 24 h is stored
// once, so the batch can be sent again after a failure.
type BatchEvent struct {
	Event string `json:"event"`
	Data  any    `json:"data"`
	ID    string `json:"id,omitempty"`
	// OrderingKey is as OrderingKey for PublishEvent.
	OrderingKey string `json:"ordering_key,omitempty"`
}

// PublishEvents publishes 1 to 500 events in one request and returns
// once every one is stored, with one result per event in the same
// order. One bad event refuses the whole batch (a 422 whose Details name
// it as events[i].field) and nothing is stored.
func (c *Client) PublishEvents(ctx context.Context, events []BatchEvent) ([]PublishResult, error) {
	var res struct {
		Events []PublishResult `json:"events"`
	}
	if err := c.call(ctx, http.MethodPost, v1+"/events/batch", map[string]any{"events": events}, nil, &res); err != nil {
		return nil, err
	}
	return res.Events, nil
}

// CreateClientKey creates a client key; the response holds the full key,
// shown this once.
func (c *Client) CreateClientKey(ctx context.Context, req CreateClientKeyRequest) (*CreateClientKeyResponse, error) {
	var res CreateClientKeyResponse
	return &res, c.call(ctx, http.MethodPost, v1+"/client-keys", req, nil, &res)
}

// ListClientKeys returns the caller's client keys (every key, for an admin), newest first.
func (c *Client) ListClientKeys(ctx context.Context) ([]ClientKey, error) {
	var res struct {
		ClientKeys []ClientKey `json:"client_keys"`
	}
	return res.ClientKeys, c.call(ctx, http.MethodGet, v1+"/client-keys", nil, nil, &res)
}

// GetClientKey returns one client key.
func (c *Client) GetClientKey(ctx context.Context, id string) (*ClientKey, error) {
	var k ClientKey
	return &k, c.call(ctx, http.MethodGet, v1+"/client-keys/"+seg(id), nil, nil, &k)
}

// UpdateClientKey changes the fields set in req.
func (c *Client) UpdateClientKey(ctx context.Context, id string, req UpdateClientKeyRequest) (*ClientKey, error) {
	var k ClientKey
	return &k, c.call(ctx, http.MethodPatch, v1+"/client-keys/"+seg(id), req, nil, &k)
}

// RevokeClientKey stops a key working at once; it stays listed.
func (c *Client) RevokeClientKey(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, v1+"/client-keys/"+seg(id)+"/revoke", nil, nil, nil)
}

// DeleteClientKey removes a key.
func (c *Client) DeleteClientKey(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, v1+"/client-keys/"+seg(id), nil, nil, nil)
}

// CreateWebhook creates a webhook; the response's Secret is the secret
// given, or the generated whsec_ one, shown this once.
func (c *Client) CreateWebhook(ctx context.Context, req WebhookRequest) (*Webhook, error) {
	var w Webhook
	return &w, c.call(ctx, http.MethodPost, v1+"/webhooks", req, nil, &w)
}

// ListWebhooks returns the caller's webhooks.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	var res struct {
		Webhooks []Webhook `json:"webhooks"`
	}
	return res.Webhooks, c.call(ctx, http.MethodGet, v1+"/webhooks", nil, nil, &res)
}

// GetWebhook returns one webhook.
func (c *Client) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	var w Webhook
	return &w, c.call(ctx, http.MethodGet, v1+"/webhooks/"+seg(id), nil, nil, &w)
}

// UpdateWebhook changes the fields set in req.
func (c *Client) UpdateWebhook(ctx context.Context, id string, req WebhookRequest) (*Webhook, error) {
	var w Webhook
	return &w, c.call(ctx, http.MethodPatch, v1+"/webhooks/"+seg(id), req, nil, &w)
}

// DeleteWebhook removes a webhook.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, v1+"/webhooks/"+seg(id), nil, nil, nil)
}

// TestWebhook sends a webhook.test event now; an endpoint that fails is
// Success false, not an error.
func (c *Client) TestWebhook(ctx context.Context, id string) (*TestResult, error) {
	var r TestResult
	return &r, c.call(ctx, http.MethodPost, v1+"/webhooks/"+seg(id)+"/test", nil, nil, &r)
}

// ListDeliveries returns a webhook's delivery attempts, newest first;
// limit 1-1000, or 0 for the server's default (50).
func (c *Client) ListDeliveries(ctx context.Context, webhookID string, limit int) ([]Delivery, error) {
	var q url.Values
	if limit > 0 {
		q = url.Values{"limit": {strconv.Itoa(limit)}}
	}
	var res struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	return res.Deliveries, c.call(ctx, http.MethodGet, v1+"/webhooks/"+seg(webhookID)+"/deliveries", nil, q, &res)
}

// RetryDelivery queues a new attempt of a failed delivery.
func (c *Client) RetryDelivery(ctx context.Context, webhookID, deliveryID string) (*Delivery, error) {
	var d Delivery
	return &d, c.call(ctx, http.MethodPost, v1+"/webhooks/"+seg(webhookID)+"/deliveries/"+seg(deliveryID)+"/retry", nil, nil, &d)
}

// Replay starts delivering again, in the background, every kept event of
// the window that the webhook's current subscription matches, including
// those it missed while disabled or before it subscribed; GetReplay
// shows its progress.
func (c *Client) Replay(ctx context.Context, webhookID string, req ReplayRequest) (*Replay, error) {
	var r Replay
	return &r, c.call(ctx, http.MethodPost, v1+"/webhooks/"+seg(webhookID)+"/replay", req, nil, &r)
}

// RetryFailed starts one more attempt of every delivery of the webhook
// that failed for good.
func (c *Client) RetryFailed(ctx context.Context, webhookID string) (*Replay, error) {
	var r Replay
	return &r, c.call(ctx, http.MethodPost, v1+"/webhooks/"+seg(webhookID)+"/retry-failed", nil, nil, &r)
}

// ListReplays returns the webhook's latest replays, newest first.
func (c *Client) ListReplays(ctx context.Context, webhookID string) ([]Replay, error) {
	var res struct {
		Replays []Replay `json:"replays"`
	}
	return res.Replays, c.call(ctx, http.MethodGet, v1+"/webhooks/"+seg(webhookID)+"/replays", nil, nil, &res)
}

// GetReplay returns a replay's state and progress.
func (c *Client) GetReplay(ctx context.Context, webhookID, replayID string) (*Replay, error) {
	var r Replay
	return &r, c.call(ctx, http.MethodGet, v1+"/webhooks/"+seg(webhookID)+"/replays/"+seg(replayID), nil, nil, &r)
}

// CancelReplay stops an active replay; deliveries already queued go ahead.
func (c *Client) CancelReplay(ctx context.Context, webhookID, replayID string) (*Replay, error) {
	var r Replay
	return &r, c.call(ctx, http.MethodPost, v1+"/webhooks/"+seg(webhookID)+"/replays/"+seg(replayID)+"/cancel", nil, nil, &r)
}

// RotateSecret replaces a webhook's secret with secret, or a generated
// one when secret is ""; the old one keeps signing beside it for 24 h.
func (c *Client) RotateSecret(ctx context.Context, webhookID, secret string) (string, error) {
	var in any
	if secret != "" {
		in = map[string]string{"secret": secret}
	}
	var res struct {
		Secret string `json:"secret"`
	}
	return res.Secret, c.call(ctx, http.MethodPost, v1+"/webhooks/"+seg(webhookID)+"/rotate-secret", in, nil, &res)
}
