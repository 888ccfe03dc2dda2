import type { FluxbaseFetch } from "./fetch.js";
import type { AdminAuthResponse, AdminUser, AuthSession, SignInCredentials, User } from "./types.js";

const ADMIN = "/api/v1/admin";

/** Dashboard users (dashboard_user, dashboard_admin): login, logout, who am I, and user management. */
export class FluxbaseAdmin {
  constructor(private readonly fetch: FluxbaseFetch) {}

  /** Logs a dashboard user in; the session replaces any app session the client had. */
  async login(credentials: SignInCredentials): Promise<AdminAuthResponse> {
    const res = await this.fetch.post<AdminAuthResponse>(`${ADMIN}/login`, credentials, { session: false });
    return this.fetch.startSession(res, "admin");
  }

  async logout(): Promise<void> {
    if (!this.fetch.getSession()) return;
    try {
      await this.fetch.post<void>(`${ADMIN}/logout`);
    } finally {
      this.fetch.setSession(null);
    }
  }

  refresh(): Promise<AuthSession> {
    return this.fetch.refreshSession();
  }

  me(): Promise<AdminUser> {
    return this.fetch.get<AdminUser>(`${ADMIN}/me`);
  }

  listUsers(options: { limit?: number; offset?: number } = {}): Promise<{ users: User[]; total: number }> {
    return this.fetch.get(`${ADMIN}/users`, { query: options });
  }

  getUser(id: string): Promise<User> {
    return this.fetch.get<User>(`${ADMIN}/users/${encodeURIComponent(id)}`);
  }

  updateUser(id: string, attributes: Partial<Pick<User, "name" | "email" | "role" | "email_verified" | "metadata">> & { password?: string }): Promise<User> {
    return this.fetch.patch<User>(`${ADMIN}/users/${encodeURIComponent(id)}`, attributes);
  }

  deleteUser(id: string): Promise<{ message: string }> {
    return this.fetch.delete(`${ADMIN}/users/${encodeURIComponent(id)}`);
  }
}
