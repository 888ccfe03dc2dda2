// Sign-in, and the public page an invitation link opens.

import { h, fill, field, errorBox, busy, announce } from '../dom.js';
import { signIn, acceptInvitation, publicApi, resume } from '../api.js';
import { navigate } from '../router.js';

function safeNext(query) {
  const next = query.get('next') || '/';
  // Only a path of this site: never an open redirect.
  return next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : '/';
}

export async function loginPage(main, params, query) {
  const next = safeNext(query);
  // A browser that still holds a session goes straight on.
  try {
    if (await resume()) {
      navigate(next, { replace: true });
      return;
    }
  } catch { /* shown when signing in */ }
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const err = errorBox();
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card narrow', novalidate: false },
    h('h1', null, 'Sign in to Fluxhook'),
    h('p', { class: 'muted' }, 'For dashboard users and admins.'),
    err, field('Email', email), field('Password', password), h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    await busy(submit, async () => {
      try {
        await signIn(email.value.trim(), password.value);
        announce('Signed in');
        navigate(next, { replace: true });
      } catch (ex) {
        password.value = '';
        email.focus();
        err.show(ex, form);
      }
    });
  });
  fill(main, h('div', { class: 'center' }, h('p', { class: 'brand-big' }, h('img', { src: '/assets/icon.svg', alt: '', width: '32', height: '32' }), 'Fluxhook'), form));
}

const roleNames = { dashboard_user: 'a dashboard user', dashboard_admin: 'a dashboard admin' };

export async function invitePage(main, [token]) {
  let res;
  try {
    res = await publicApi('GET', `/invitations/${encodeURIComponent(token)}/validate`);
  } catch (ex) {
    res = { valid: false, error: ex.message };
  }
  if (!res.valid) {
    fill(main, h('div', { class: 'center' }, h('div', { class: 'card narrow' },
      h('h1', null, 'This invitation cannot be used'),
      h('div', { class: 'error', role: 'alert' }, h('p', null, `${res.error || 'Invitation not found'}.`)),
      h('p', null, 'Ask the admin who invited you for a new link, or ', h('a', { href: '/login' }, 'sign in'), ' if you already have an account.'))));
    return;
  }
  const inv = res.invitation;
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'name', required: true, minlength: '2', maxlength: '100' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: '12', maxlength: '256' });
  const again = h('input', { type: 'password', name: 'password2', autocomplete: 'new-password', required: true });
  const err = errorBox();
  const submit = h('button', { type: 'submit' }, 'Join and sign in');
  const form = h('form', { class: 'card narrow' },
    h('h1', null, 'Join the Fluxhook dashboard'),
    h('p', null, 'You are invited as ', h('strong', null, roleNames[inv.role] || inv.role), ', with the address ', h('strong', null, inv.email), '.'),
    h('p', { class: 'muted' }, 'The invitation is good until ', h('time', { datetime: inv.expires_at }, new Date(inv.expires_at).toLocaleString()), '.'),
    err,
    field('Your name', name),
    field('Password', password, 'At least 12 characters.'),
    field('Password again', again),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    if (password.value !== again.value) {
      err.show({ message: 'The two passwords differ; type the same password twice.' });
      again.focus();
      return;
    }
    await busy(submit, async () => {
      try {
        await acceptInvitation(token, name.value.trim(), password.value);
        announce('Welcome: you are signed in');
        navigate('/', { replace: true });
      } catch (ex) {
        err.show(ex, form);
      }
    });
  });
  fill(main, h('div', { class: 'center' }, h('p', { class: 'brand-big' }, h('img', { src: '/assets/icon.svg', alt: '', width: '32', height: '32' }), 'Fluxhook'), form));
}
