// The request and response shapes of the Fluxhook API (shared/API.md), named
// as the Fluxbase Management SDK documentation names them. Times are RFC 3339
// strings in UTC, ids are UUIDs. Optional properties are absent, not null,
// when they have no value.

// ---- Users and sessions ----

export type Role = "user" | "dashboard_user" | "dashboard_admin";

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  email_verified: boolean;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  last_login_at?: string;
}

/** A dashboard user as GET /admin/me shows them. */
export interface AdminUser {
  id: string;
  email: string;
  name: string;
  role: Role;
  email_verified: boolean;
  created_at: string;
  updated_at: string;
  last_login_at?: string;
}

export interface AuthResponse {
  user: User;
  access_token: string;
  refresh_token: string;
  /** Seconds until the access token expires. */
  expires_in: number;
}

export interface AdminAuthResponse {
  user: AdminUser;
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

/** The session the client keeps after a login: the tokens, and when the access token expires. */
export interface AuthSession {
  user: User | AdminUser;
  access_token: string;
  refresh_token: string;
  expires_in: number;
  /** Unix time in milliseconds at which the access token expires. */
  expires_at: number;
  /** Which login made it: app users refresh at /auth/refresh, dashboard users at /admin/refresh. */
  kind: "app" | "admin";
}

export interface SignInCredentials {
  email: string;
  password: string;
}

export interface SignUpCredentials {
  email: string;
  password: string;
  name?: string;
  metadata?: Record<string, unknown>;
}

export interface UpdateUserAttributes {
  name?: string;
  email?: string;
  password?: string;
  metadata?: Record<string, unknown>;
}

export interface MessageResponse {
  message: string;
}

// ---- Client keys ----

export interface ClientKey {
  id: string;
  user_id: string;
  name: string;
  description?: string;
  /** The key's first 12 characters (`fbk_` and 8 more), to recognise it by. */
  key_prefix: string;
  scopes: string[];
  rate_limit_per_minute: number;
  created_at: string;
  updated_at: string;
  expires_at?: string;
  revoked_at?: string;
  last_used_at?: string;
}

export interface CreateClientKeyRequest {
  name: string;
  description?: string;
  scopes: string[];
  rate_limit_per_minute: number;
  expires_at?: string;
}

export interface CreateClientKeyResponse {
  client_key: ClientKey;
  /** The full key (`fbk_...`), shown this once. */
  key: string;
}

export interface UpdateClientKeyRequest {
  name?: string;
  description?: string;
  scopes?: string[];
  rate_limit_per_minute?: number;
  expires_at?: string;
}

export interface ListClientKeysResponse {
  client_keys: ClientKey[];
  total: number;
}

export type RevokeClientKeyResponse = MessageResponse;
export type DeleteClientKeyResponse = MessageResponse;

// ---- Webhooks ----

export interface Webhook {
  id: string;
  user_id: string;
  url: string;
  events: string[];
  description?: string;
  is_active: boolean;
  has_secret: boolean;
  /** Only in the create response: the secret given, or the generated `whsec_...` one. */
  secret?: string;
  rate_limit_per_second?: number;
  headers?: Record<string, string>;
  /** A CEL expression over the event; only events for which it is true are delivered. */
  filter?: string;
  /** "fifo": events arrive one at a time, in the order accepted, per ordering key. Absent: no ordering. */
  ordering?: "fifo";
  disabled_reason?: string;
  created_at: string;
  updated_at: string;
}

export interface CreateWebhookRequest {
  url: string;
  events: string[];
  description?: string;
  secret?: string;
  is_active?: boolean;
  rate_limit_per_second?: number;
  headers?: Record<string, string>;
  /** A CEL expression over the event, e.g. `data.amount > 100 && data.currency == "EUR"`; null or "" for none. */
  filter?: string | null;
  /** "fifo" for ordered delivery (per `orderingKey` of published events); "none" or null for none. */
  ordering?: "fifo" | "none" | null;
}

export interface UpdateWebhookRequest {
  url?: string;
  events?: string[];
  description?: string;
  secret?: string;
  is_active?: boolean;
  rate_limit_per_second?: number;
  headers?: Record<string, string>;
  /** Replaces the filter; null or "" removes it; absent leaves it as it is. */
  filter?: string | null;
  /** "fifo" turns ordered delivery on; "none" or null turns it off; absent leaves it as it is. */
  ordering?: "fifo" | "none" | null;
}

export interface ListWebhooksResponse {
  webhooks: Webhook[];
  total: number;
}

export type DeleteWebhookResponse = MessageResponse;

export interface TestWebhookResponse {
  success: boolean;
  status_code?: number;
  response_body?: string;
  error?: string;
}

export type WebhookDeliveryStatus = "pending" | "delivered" | "retrying" | "failed";

/** One attempt to deliver an event to a webhook. */
export interface WebhookDelivery {
  id: string;
  /** The same on every attempt of one delivery: the webhook-id header the receiver saw. */
  delivery_id: string;
  webhook_id: string;
  event: string;
  event_id: string;
  payload: unknown;
  status: WebhookDeliveryStatus;
  attempt: number;
  status_code?: number;
  response_body?: string;
  error?: string;
  duration_ms?: number;
  created_at: string;
  delivered_at?: string;
  next_attempt_at?: string;
}

export interface ListWebhookDeliveriesResponse {
  deliveries: WebhookDelivery[];
}

/** A replay's status option: deliveries in that state now; "missed" is never attempted. */
export type ReplayStatus = WebhookDeliveryStatus | "missed";

export interface ReplayWebhookRequest {
  /** RFC 3339; no older than the event retention (FLUXHOOK_EVENT_RETENTION, 7 days by default). */
  since: string;
  /** RFC 3339, excluded; now when absent. */
  until?: string;
  status?: ReplayStatus;
}

/** A replay of kept events, or a retry of every failed delivery, of one webhook. */
export interface Replay {
  id: string;
  webhook_id: string;
  kind: "replay" | "retry_failed";
  since?: string;
  until?: string;
  status?: ReplayStatus;
  state: "pending" | "running" | "done" | "cancelled" | "failed";
  events_scanned: number;
  events_matched: number;
  deliveries_queued: number;
  /** True for a replay: events missed while disabled or before subscribing are included. */
  includes_missed: boolean;
  note?: string;
  /** The oldest event still kept. */
  available_since?: string;
  error?: string;
  created_at: string;
  updated_at: string;
  started_at?: string;
  finished_at?: string;
}

export interface ListReplaysResponse {
  replays: Replay[];
}

export interface RotateWebhookSecretResponse {
  secret: string;
  /** When the replaced secret stops signing: the end of the 24-hour overlap. */
  previous_secret_expires_at?: string;
}

/**
 * The body a webhook endpoint receives; the signatures are in headers.
 * data is an object for the events Fluxhook emits; a custom event's data is
 * whatever JSON value its publisher sent, so give T when you know it.
 */
export interface WebhookPayload<T = unknown> {
  id: string;
  event: string;
  timestamp: string;
  data: T;
}

// ---- Invitations ----

export type InvitationRole = "dashboard_user" | "dashboard_admin";

export interface Invitation {
  id: string;
  email: string;
  role: InvitationRole;
  token?: string;
  invited_by: string;
  accepted_at?: string;
  expires_at: string;
  created_at: string;
  revoked_at?: string;
}

export interface CreateInvitationRequest {
  email: string;
  role: InvitationRole;
  /** Seconds; 604800 (7 days) when absent. */
  expiry_duration?: number;
}

export interface CreateInvitationResponse {
  invitation: Invitation;
  invite_link: string;
  email_sent: boolean;
  email_status?: string;
}

export interface ListInvitationsOptions {
  include_accepted?: boolean;
  include_expired?: boolean;
}

export interface ListInvitationsResponse {
  invitations: Invitation[];
}

export interface ValidateInvitationResponse {
  valid: boolean;
  invitation?: Invitation;
  error?: string;
}

export interface AcceptInvitationRequest {
  password: string;
  name: string;
}

export interface AcceptInvitationResponse {
  user: User;
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export type RevokeInvitationResponse = MessageResponse;

// ---- Events ----

export interface PublishEventOptions {
  /** Makes retries safe: the same key from the same user within 24 h is stored once. */
  idempotencyKey?: string;
  /**
   * Webhooks with ordering "fifo" get the events of one key (e.g. a customer id) in the
   * order they were accepted, other keys in parallel. 1 to 256 bytes.
   */
  orderingKey?: string;
}

export interface PublishEventResponse {
  id: string;
  /** True when an event with the same idempotency key was already stored. */
  duplicate: boolean;
}

/** One event of a batch: what events.publish takes, with its idempotency key as `id`. */
export interface PublishEventRequest {
  event: string;
  data: unknown;
  /** Makes a retry of the batch safe for this event: the same id from the same user within 24 h is stored once. */
  id?: string;
  /** As `orderingKey` of a single publish: the event's sequence for webhooks with ordering "fifo". */
  ordering_key?: string;
}

export interface PublishEventsRequest {
  /** 1 to 500 events; ids, where given, distinct within the batch. */
  events: PublishEventRequest[];
}

export interface PublishEventsResponse {
  /** One answer per event, in the request's order. */
  events: PublishEventResponse[];
}
