import type { FluxbaseFetch } from "./fetch.js";
import type {
  AuthResponse,
  AuthSession,
  MessageResponse,
  SignInCredentials,
  SignUpCredentials,
  UpdateUserAttributes,
  User,
} from "./types.js";

const AUTH = "/api/v1/auth";

/** App users: sign-up, sign-in and the session the client keeps. */
export class FluxbaseAuth {
  constructor(private readonly fetch: FluxbaseFetch) {}

  /** Signs in and keeps the session; later calls carry its access token. */
  async signIn(credentials: SignInCredentials): Promise<AuthResponse> {
    const res = await this.fetch.post<AuthResponse>(`${AUTH}/signin`, credentials, { session: false });
    return this.fetch.startSession(res, "app");
  }

  /** The Fluxbase examples' name for signIn. */
  login(credentials: SignInCredentials): Promise<AuthResponse> {
    return this.signIn(credentials);
  }

  /** Creates an app user and keeps their session. */
  async signUp(credentials: SignUpCredentials): Promise<AuthResponse> {
    const res = await this.fetch.post<AuthResponse>(`${AUTH}/signup`, credentials, { session: false });
    return this.fetch.startSession(res, "app");
  }

  /** Ends the session on the server and forgets it here, even if the server call fails. */
  async signOut(): Promise<void> {
    if (!this.fetch.getSession()) return;
    try {
      await this.fetch.post<void>(`${AUTH}/signout`);
    } finally {
      this.fetch.setSession(null);
    }
  }

  logout(): Promise<void> {
    return this.signOut();
  }

  /** Exchanges the refresh token for a new pair now (the client also does this by itself before expiry). */
  refresh(): Promise<AuthSession> {
    return this.fetch.refreshSession();
  }

  refreshSession(): Promise<AuthSession> {
    return this.refresh();
  }

  getSession(): AuthSession | null {
    return this.fetch.getSession();
  }

  /** Restores a session saved elsewhere (e.g. from storage). */
  setSession(session: AuthSession | null): void {
    this.fetch.setSession(session);
  }

  /** Calls listener with the new session (or null) on every login, refresh and logout; returns the unsubscribe function. */
  onAuthStateChange(listener: (session: AuthSession | null) => void): () => void {
    return this.fetch.onSessionChange(listener);
  }

  getUser(): Promise<User> {
    return this.fetch.get<User>(`${AUTH}/user`);
  }

  getCurrentUser(): Promise<User> {
    return this.getUser();
  }

  updateUser(attributes: UpdateUserAttributes): Promise<User> {
    return this.fetch.patch<User>(`${AUTH}/user`, attributes);
  }

  /** Deletes the signed-in user's account and forgets the session. */
  async deleteUser(): Promise<void> {
    await this.fetch.delete<void>(`${AUTH}/user`);
    this.fetch.setSession(null);
  }

  /** Mails a reset token; answers the same whether or not the address has an account. */
  resetPassword(email: string): Promise<MessageResponse> {
    return this.fetch.post<MessageResponse>(`${AUTH}/password/reset`, { email }, { session: false });
  }

  confirmPasswordReset(token: string, password: string): Promise<MessageResponse> {
    return this.fetch.post<MessageResponse>(`${AUTH}/password/reset/confirm`, { token, password }, { session: false });
  }

  verifyEmail(token: string): Promise<MessageResponse> {
    return this.fetch.post<MessageResponse>(`${AUTH}/verify-email`, { token }, { session: false });
  }
}
