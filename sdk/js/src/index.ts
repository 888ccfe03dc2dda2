export { createClient, FluxbaseClient } from "./client.js";
export type { FluxbaseClientOptions } from "./client.js";
export { FluxbaseFetch } from "./fetch.js";
export type { FluxbaseFetchOptions, RequestOptions } from "./fetch.js";
export { FluxbaseAuth } from "./auth.js";
export { FluxbaseAdmin } from "./admin.js";
export { FluxbaseManagement, ClientKeysManager, WebhooksManager, InvitationsManager } from "./management.js";
export { EventsManager } from "./events.js";
export { FluxhookError, FluxbaseError, isFluxhookError } from "./errors.js";
export {
  verifyWebhookSignature,
  webhookSignature,
  verifyStandardWebhook,
  standardWebhookSignature,
  standardWebhookKey,
  FLUXBASE_SIGNATURE_HEADER,
} from "./verify.js";
export type { WebhookBody, WebhookHeaders, VerifyStandardWebhookOptions } from "./verify.js";
// Listed, not `export type *`, so that TypeScript before 5.0 reads the declarations.
export type {
  Role, User, AdminUser, AuthResponse, AdminAuthResponse, AuthSession, SignInCredentials,
  SignUpCredentials, UpdateUserAttributes, MessageResponse, ClientKey, CreateClientKeyRequest,
  CreateClientKeyResponse, UpdateClientKeyRequest, ListClientKeysResponse,
  RevokeClientKeyResponse, DeleteClientKeyResponse, Webhook, CreateWebhookRequest,
  UpdateWebhookRequest, ListWebhooksResponse, DeleteWebhookResponse, TestWebhookResponse,
  WebhookDeliveryStatus, WebhookDelivery, ListWebhookDeliveriesResponse,
  RotateWebhookSecretResponse, ReplayStatus, ReplayWebhookRequest, Replay, ListReplaysResponse,
  WebhookPayload, InvitationRole, Invitation,
  CreateInvitationRequest, CreateInvitationResponse, ListInvitationsOptions,
  ListInvitationsResponse, ValidateInvitationResponse, AcceptInvitationRequest,
  AcceptInvitationResponse, RevokeInvitationResponse, PublishEventOptions, PublishEventResponse, PublishEventRequest, PublishEventsRequest, PublishEventsResponse,
} from "./types.js";
