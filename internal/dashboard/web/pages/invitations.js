// Invitations (admins): invite a colleague, copy the link, revoke, and
// see which invitations are pending, accepted, expired or revoked.

import { h, fill, field, errorBox, busy, announce, badge, when, secretPanel, confirmDialog, tableWrap, copyButton } from '../dom.js';
import { api } from '../api.js';

function state(inv) {
  if (inv.accepted_at) return ['delivered', 'Accepted'];
  if (inv.revoked_at) return ['failed', 'Revoked'];
  if (new Date(inv.expires_at) <= new Date()) return ['retrying', 'Expired'];
  return ['pending', 'Pending'];
}

const roles = [['dashboard_user', 'Dashboard user'], ['dashboard_admin', 'Dashboard admin']];

export async function invitationsPage(main) {
  const list = await api('GET', '/admin/invitations', undefined, { include_accepted: 'true', include_expired: 'true' });
  const rerender = () => invitationsPage(main);
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
  const role = h('select', { name: 'role' }, roles.map(([v, l]) => h('option', { value: v }, l)));
  const days = h('select', { name: 'expiry_duration' }, [['1', '1 day'], ['7', '7 days'], ['30', '30 days']].map(([v, l]) => h('option', { value: v, selected: v === '7' }, l)));
  const err = errorBox();
  const submit = h('button', { type: 'submit' }, 'Send invitation');
  const form = h('form', { class: 'card', 'aria-label': 'Invite a colleague' }, h('h2', null, 'Invite a colleague'), err,
    h('div', { class: 'row' }, field('Email', email), field('Role', role), field('Valid for', days)),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    await busy(submit, async () => {
      try {
        const res = await api('POST', '/admin/invitations', { email: email.value.trim(), role: role.value, expiry_duration: Number(days.value) * 86400 });
        await rerender();
        const mailed = res.email_sent ? `An email with this link went to ${res.invitation.email}.` : `No email was sent (${res.email_status || 'not configured'}): send the link yourself.`;
        const panel = secretPanel('Invitation link', res.invite_link, mailed, 'link');
        main.querySelector('form').after(panel);
        announce('Invitation created');
        panel.focus();
      } catch (ex) { err.show(ex, form); }
    });
  });
  const rows = list.invitations;
  const table = rows.length === 0 ? h('p', null, 'No invitations yet.')
    : tableWrap('Invitations', h('table', null,
      h('thead', null, h('tr', null, ['Email', 'Role', 'State', 'Expires', 'Sent', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, rows.map((inv) => {
        const [cls, label] = state(inv);
        const link = inv.token ? `${location.origin}/invite/${inv.token}` : '';
        const revoke = h('button', { type: 'button', class: 'danger' }, 'Revoke');
        revoke.addEventListener('click', async () => {
          if (!await confirmDialog(`Revoke the invitation of ${inv.email}?`, 'Its link stops working at once.', 'Revoke')) { revoke.focus(); return; }
          await busy(revoke, () => api('DELETE', `/admin/invitations/${encodeURIComponent(inv.token)}`));
          announce(`Invitation of ${inv.email} revoked`);
          await rerender();
        });
        return h('tr', null,
          h('th', { scope: 'row' }, inv.email),
          h('td', null, inv.role === 'dashboard_admin' ? 'Admin' : 'User'),
          h('td', null, badge(cls, label)),
          h('td', null, when(inv.expires_at)),
          h('td', null, when(inv.created_at)),
          h('td', null, label === 'Pending' && link ? h('div', { class: 'actions tight' }, copyButton(link, 'link'), revoke) : null));
      }))));
  fill(main, h('h1', null, 'Invitations'), form, h('h2', null, 'Sent invitations'), table);
}
