import type { FluxbaseFetch } from "./fetch.js";
import type {
  AcceptInvitationRequest,
  AcceptInvitationResponse,
  ClientKey,
  CreateClientKeyRequest,
  CreateClientKeyResponse,
  CreateInvitationRequest,
  CreateInvitationResponse,
  CreateWebhookRequest,
  DeleteClientKeyResponse,
  DeleteWebhookResponse,
  ListClientKeysResponse,
  ListInvitationsOptions,
  ListInvitationsResponse,
  ListReplaysResponse,
  ListWebhookDeliveriesResponse,
  ListWebhooksResponse,
  Replay,
  ReplayWebhookRequest,
  RevokeClientKeyResponse,
  RevokeInvitationResponse,
  RotateWebhookSecretResponse,
  TestWebhookResponse,
  UpdateClientKeyRequest,
  UpdateWebhookRequest,
  ValidateInvitationResponse,
  Webhook,
  WebhookDelivery,
} from "./types.js";

const V1 = "/api/v1";
const seg = encodeURIComponent;

/** Client keys: service credentials acting as their owner within their scopes. */
export class ClientKeysManager {
  constructor(private readonly fetch: FluxbaseFetch) {}

  create(request: CreateClientKeyRequest): Promise<CreateClientKeyResponse> {
    return this.fetch.post(`${V1}/client-keys`, request);
  }
  list(): Promise<ListClientKeysResponse> {
    return this.fetch.get(`${V1}/client-keys`);
  }
  get(keyId: string): Promise<ClientKey> {
    return this.fetch.get(`${V1}/client-keys/${seg(keyId)}`);
  }
  update(keyId: string, updates: UpdateClientKeyRequest): Promise<ClientKey> {
    return this.fetch.patch(`${V1}/client-keys/${seg(keyId)}`, updates);
  }
  revoke(keyId: string): Promise<RevokeClientKeyResponse> {
    return this.fetch.post(`${V1}/client-keys/${seg(keyId)}/revoke`);
  }
  delete(keyId: string): Promise<DeleteClientKeyResponse> {
    return this.fetch.delete(`${V1}/client-keys/${seg(keyId)}`);
  }
}

/** Webhooks: endpoints that receive events, signed. */
export class WebhooksManager {
  constructor(private readonly fetch: FluxbaseFetch) {}

  create(request: CreateWebhookRequest): Promise<Webhook> {
    return this.fetch.post(`${V1}/webhooks`, request);
  }
  list(): Promise<ListWebhooksResponse> {
    return this.fetch.get(`${V1}/webhooks`);
  }
  get(webhookId: string): Promise<Webhook> {
    return this.fetch.get(`${V1}/webhooks/${seg(webhookId)}`);
  }
  update(webhookId: string, updates: UpdateWebhookRequest): Promise<Webhook> {
    return this.fetch.patch(`${V1}/webhooks/${seg(webhookId)}`, updates);
  }
  delete(webhookId: string): Promise<DeleteWebhookResponse> {
    return this.fetch.delete(`${V1}/webhooks/${seg(webhookId)}`);
  }
  /** Sends a webhook.test event now; a failing endpoint is `success: false`, not an error. */
  test(webhookId: string): Promise<TestWebhookResponse> {
    return this.fetch.post(`${V1}/webhooks/${seg(webhookId)}/test`);
  }
  /** The delivery attempts, newest first; limit 1-1000, 50 when absent. */
  listDeliveries(webhookId: string, limit?: number): Promise<ListWebhookDeliveriesResponse> {
    return this.fetch.get(`${V1}/webhooks/${seg(webhookId)}/deliveries`, { query: { limit } });
  }
  /** Queues a new attempt of a failed delivery. */
  retryDelivery(webhookId: string, deliveryId: string): Promise<WebhookDelivery> {
    return this.fetch.post(`${V1}/webhooks/${seg(webhookId)}/deliveries/${seg(deliveryId)}/retry`);
  }
  /**
   * Delivers again, in the background, every kept event of [since, until) that the webhook's
   * current subscription matches, including events it missed while disabled or before it
   * subscribed. Poll the returned replay with getReplay.
   */
  replay(webhookId: string, request: ReplayWebhookRequest): Promise<Replay> {
    return this.fetch.post(`${V1}/webhooks/${seg(webhookId)}/replay`, request);
  }
  /** Queues one more attempt of every delivery of the webhook that failed for good. */
  retryFailed(webhookId: string): Promise<Replay> {
    return this.fetch.post(`${V1}/webhooks/${seg(webhookId)}/retry-failed`);
  }
  /** The webhook's latest replays and bulk retries, newest first. */
  listReplays(webhookId: string): Promise<ListReplaysResponse> {
    return this.fetch.get(`${V1}/webhooks/${seg(webhookId)}/replays`);
  }
  /** A replay's state and progress. */
  getReplay(webhookId: string, replayId: string): Promise<Replay> {
    return this.fetch.get(`${V1}/webhooks/${seg(webhookId)}/replays/${seg(replayId)}`);
  }
  /** Stops an active replay; deliveries already queued go ahead. */
  cancelReplay(webhookId: string, replayId: string): Promise<Replay> {
    return this.fetch.post(`${V1}/webhooks/${seg(webhookId)}/replays/${seg(replayId)}/cancel`);
  }
  /** Replaces the secret (with the one given, or a generated one); the old one keeps signing beside it for 24 h. */
  rotateSecret(webhookId: string, secret?: string): Promise<RotateWebhookSecretResponse> {
    return this.fetch.post(`${V1}/webhooks/${seg(webhookId)}/rotate-secret`, secret === undefined ? undefined : { secret });
  }
}

/** Invitations to the dashboard: created, listed and revoked by admins; validated and accepted by anyone holding the token. */
export class InvitationsManager {
  constructor(private readonly fetch: FluxbaseFetch) {}

  create(request: CreateInvitationRequest): Promise<CreateInvitationResponse> {
    return this.fetch.post(`${V1}/admin/invitations`, request);
  }
  list(options: ListInvitationsOptions = {}): Promise<ListInvitationsResponse> {
    return this.fetch.get(`${V1}/admin/invitations`, { query: { ...options } });
  }
  validate(token: string): Promise<ValidateInvitationResponse> {
    return this.fetch.get(`${V1}/invitations/${seg(token)}/validate`, { session: false });
  }
  /**
   * Creates the invited user. The response carries their tokens; the
   * client's own session is left as it was (call setSession to switch).
   */
  accept(token: string, request: AcceptInvitationRequest): Promise<AcceptInvitationResponse> {
    return this.fetch.post(`${V1}/invitations/${seg(token)}/accept`, request, { session: false });
  }
  revoke(token: string): Promise<RevokeInvitationResponse> {
    return this.fetch.delete(`${V1}/admin/invitations/${seg(token)}`);
  }
}

/** `client.management`: client keys, webhooks and invitations. */
export class FluxbaseManagement {
  readonly clientKeys: ClientKeysManager;
  readonly webhooks: WebhooksManager;
  readonly invitations: InvitationsManager;

  constructor(fetch: FluxbaseFetch) {
    this.clientKeys = new ClientKeysManager(fetch);
    this.webhooks = new WebhooksManager(fetch);
    this.invitations = new InvitationsManager(fetch);
  }
}
