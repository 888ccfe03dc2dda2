package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/fluxhook/fluxhook/internal/auth"
)

// routes lists every endpoint of the API.
func (s *Server) routes() http.Handler {
	m := jsonMux{ServeMux: http.NewServeMux(), s: s}
	const v1 = "/api/v1"

	m.handle("GET "+v1+"/health", s.health)
	m.handle("GET "+v1+"/openapi.json", s.openAPI) // the contract: api/openapi.json

	// App users (API.md "Auth").
	m.handle("POST "+v1+"/auth/signup", s.perIP(s.signUp))
	m.handle("POST "+v1+"/auth/signin", s.perIP(s.signIn(auth.AudienceApp)))
	m.handle("POST "+v1+"/auth/refresh", s.perIP(s.refresh(auth.AudienceApp)))
	m.handle("POST "+v1+"/auth/signout", s.authed("", s.signOut))
	m.handle("GET "+v1+"/auth/user", s.authed("read:users", s.getSelf))
	m.handle("PATCH "+v1+"/auth/user", s.authed("write:users", s.updateSelf))
	m.handle("PUT "+v1+"/auth/user", s.authed("write:users", s.updateSelf))
	m.handle("DELETE "+v1+"/auth/user", s.authed("write:users", s.deleteSelf))
	m.handle("POST "+v1+"/auth/password/reset", s.perIP(s.requestReset))
	m.handle("POST "+v1+"/auth/password/reset/confirm", s.perIP(s.confirmReset))
	m.handle("POST "+v1+"/auth/verify-email", s.perIP(s.verifyEmail))

	// Dashboard users (API.md "Admin").
	m.handle("POST "+v1+"/admin/login", s.perIP(s.signIn(auth.AudienceAdmin)))
	m.handle("POST "+v1+"/admin/refresh", s.perIP(s.refresh(auth.AudienceAdmin)))
	m.handle("POST "+v1+"/admin/logout", s.authed("", s.signOut))
	m.handle("GET "+v1+"/admin/me", s.authed("", dashboard(false, s.adminMe)))
	m.handle("GET "+v1+"/admin/users", s.authed("read:users", dashboard(false, s.listUsers)))
	m.handle("GET "+v1+"/admin/users/{id}", s.authed("read:users", dashboard(false, s.getUser)))
	m.handle("PATCH "+v1+"/admin/users/{id}", s.authed("write:users", dashboard(true, s.updateUser)))
	m.handle("DELETE "+v1+"/admin/users/{id}", s.authed("write:users", dashboard(true, s.deleteUser)))

	// Client keys (API.md "Client keys").
	m.handle("POST "+v1+"/client-keys", s.authed("write:clientkeys", s.createKey))
	m.handle("GET "+v1+"/client-keys", s.authed("read:clientkeys", s.listKeys))
	m.handle("GET "+v1+"/client-keys/{id}", s.authed("read:clientkeys", s.getKey))
	m.handle("PATCH "+v1+"/client-keys/{id}", s.authed("write:clientkeys", s.updateKey))
	m.handle("PUT "+v1+"/client-keys/{id}", s.authed("write:clientkeys", s.updateKey))
	m.handle("POST "+v1+"/client-keys/{id}/revoke", s.authed("write:clientkeys", s.revokeKey))
	m.handle("DELETE "+v1+"/client-keys/{id}", s.authed("write:clientkeys", s.deleteKey))

	// Webhooks (API.md "Webhooks").
	m.handle("POST "+v1+"/webhooks", s.authed("write:webhooks", s.createWebhook))
	m.handle("GET "+v1+"/webhooks", s.authed("read:webhooks", s.listWebhooks))
	m.handle("GET "+v1+"/webhooks/{id}", s.authed("read:webhooks", s.getWebhook))
	m.handle("PATCH "+v1+"/webhooks/{id}", s.authed("write:webhooks", s.updateWebhook))
	m.handle("PUT "+v1+"/webhooks/{id}", s.authed("write:webhooks", s.updateWebhook))
	m.handle("DELETE "+v1+"/webhooks/{id}", s.authed("write:webhooks", s.deleteWebhook))
	m.handle("POST "+v1+"/webhooks/{id}/rotate-secret", s.authed("write:webhooks", s.rotateSecret))
	m.handle("POST "+v1+"/webhooks/{id}/test", s.authed("write:webhooks", s.testWebhook))
	m.handle("GET "+v1+"/webhooks/{id}/deliveries", s.authed("read:webhooks", s.listDeliveries))
	m.handle("POST "+v1+"/webhooks/{id}/deliveries/{delivery_id}/retry", s.authed("write:webhooks", s.retryDelivery))
	m.handle("POST "+v1+"/webhooks/{id}/replay", s.authed("write:webhooks", s.startReplay))
	m.handle("POST "+v1+"/webhooks/{id}/retry-failed", s.authed("write:webhooks", s.retryFailed))
	m.handle("GET "+v1+"/webhooks/{id}/replays", s.authed("read:webhooks", s.listReplays))
	m.handle("GET "+v1+"/webhooks/{id}/replays/{replay_id}", s.authed("read:webhooks", s.getReplay))
	m.handle("POST "+v1+"/webhooks/{id}/replays/{replay_id}/cancel", s.authed("write:webhooks", s.cancelReplay))

	// Event ingestion (API.md "Events — ingestion").
	m.handle("POST "+v1+"/events", s.authed("write:events", s.publishEvent))
	m.handle("POST "+v1+"/events/batch", s.authed("write:events", s.publishEvents))

	// Invitations (API.md "Invitations").
	m.handle("POST "+v1+"/admin/invitations", s.authed("write:invitations", dashboard(true, s.createInvitation)))
	m.handle("GET "+v1+"/admin/invitations", s.authed("read:invitations", dashboard(true, s.listInvitations)))
	m.handle("DELETE "+v1+"/admin/invitations/{token}", s.authed("write:invitations", dashboard(true, s.revokeInvitation)))
	m.handle("GET "+v1+"/invitations/{token}/validate", s.validateInvitation)
	m.handle("POST "+v1+"/invitations/{token}/accept", s.perIP(s.acceptInvitation))

	// The dashboard (README "Dashboard"): its session cookie, and the
	// delivery log and health figures its pages read.
	m.handle("POST "+v1+"/dashboard/session", s.perIP(s.sameSite(s.dashboardSignIn)))
	// Not limited per IP: every page load refreshes, a refresh token cannot
	// be guessed, and a team behind one address must not be locked out.
	m.handle("POST "+v1+"/dashboard/session/refresh", s.sameSite(s.dashboardRefresh))
	m.handle("DELETE "+v1+"/dashboard/session", s.sameSite(s.dashboardSignOut))
	m.handle("POST "+v1+"/dashboard/invitations/{token}/accept", s.perIP(s.sameSite(s.dashboardAcceptInvitation)))
	m.handle("GET "+v1+"/deliveries", s.authed("read:webhooks", dashboard(false, bounded(s.listAllDeliveries))))
	m.handle("GET "+v1+"/deliveries/{id}", s.authed("read:webhooks", dashboard(false, bounded(s.getDelivery))))
	m.handle("GET "+v1+"/stats/webhooks", s.authed("read:webhooks", dashboard(false, bounded(s.webhookStats))))
	m.handle("GET "+v1+"/stats/deliveries", s.authed("read:webhooks", dashboard(false, bounded(s.deliveryStats))))

	return m
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readBound is how long one of the dashboard's reads of the delivery log
// may keep the database busy: a filter that matches little over a long
// retention can make it read a lot, and a page is not worth more.
const readBound = 10 * time.Second

// bounded ends h's database work after readBound (503, the database
// being too slow for it) instead of letting it run on.
func bounded(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), readBound)
		defer cancel()
		return h(w, r.WithContext(ctx))
	}
}
