// The dashboard's entry: routes, the page frame (skip link, navigation,
// the signed-in user), and moving focus to each new page's heading so
// that keyboard and screen-reader users know where they are.

import { h, fill, announce } from './dom.js';
import { navigate, setRenderer } from './router.js';
import { currentUser, isAdmin, resume, signOut, onSignedOut } from './api.js';
import { loginPage, invitePage } from './pages/auth.js';
import { overviewPage } from './pages/overview.js';
import { webhooksPage, webhookPage } from './pages/webhooks.js';
import { deliveriesPage, deliveryPage } from './pages/deliveries.js';
import { keysPage } from './pages/keys.js';
import { invitationsPage } from './pages/invitations.js';

// The server answers these paths with this page (internal/dashboard).
const routes = [
  { path: /^\/$/, page: overviewPage, nav: '/' },
  { path: /^\/login$/, page: loginPage, public: true },
  { path: /^\/webhooks$/, page: webhooksPage, nav: '/webhooks' },
  { path: /^\/webhooks\/([^/]+)$/, page: webhookPage, nav: '/webhooks' },
  { path: /^\/deliveries$/, page: deliveriesPage, nav: '/deliveries' },
  { path: /^\/deliveries\/([^/]+)$/, page: deliveryPage, nav: '/deliveries' },
  { path: /^\/keys$/, page: keysPage, nav: '/keys' },
  { path: /^\/invitations$/, page: invitationsPage, nav: '/invitations', admin: true },
  { path: /^\/invite\/([^/]+)$/, page: invitePage, public: true, bare: true },
];

const nav = [
  ['/', 'Overview'], ['/webhooks', 'Webhooks'], ['/deliveries', 'Deliveries'], ['/keys', 'Client keys'],
  ['/invitations', 'Invitations', true],
];

const root = document.getElementById('app');
let renderSeq = 0;


// Internal links move without a page load.
document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if (a.target || a.hasAttribute('download') || a.origin !== location.origin || a.pathname.startsWith('/api/')) return;
  if (a.getAttribute('href').startsWith('#')) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
});
window.addEventListener('popstate', () => render());
onSignedOut(() => navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true }));

function frame(active) {
  const u = currentUser();
  const links = nav.filter(([, , adminOnly]) => !adminOnly || isAdmin()).map(([href, label]) =>
    h('li', null, h('a', { href, 'aria-current': href === active ? 'page' : null }, label)));
  const out = h('button', { type: 'button', class: 'link-button' }, 'Sign out');
  out.addEventListener('click', async () => {
    try { await signOut(); } finally { navigate('/login', { replace: true }); announce('Signed out'); }
  });
  const main = h('main', { id: 'main', tabindex: '-1' });
  fill(root,
    h('header', { class: 'top' },
      h('a', { href: '/', class: 'brand' }, h('img', { src: '/assets/icon.svg', alt: '', width: '24', height: '24' }), 'Fluxhook'),
      h('nav', { 'aria-label': 'Main' }, h('ul', null, links)),
      h('div', { class: 'who' }, h('span', null, u.name || u.email, ' ', h('span', { class: 'muted' }, `(${u.role === 'dashboard_admin' ? 'admin' : 'user'})`)), out)),
    main);
  return main;
}

function bare() {
  const main = h('main', { id: 'main', tabindex: '-1', class: 'bare' });
  fill(root, main);
  return main;
}

async function render() {
  const seq = ++renderSeq;
  const path = location.pathname;
  const route = routes.find((r) => r.path.test(path));
  const params = route ? path.match(route.path).slice(1).map(decodeURIComponent) : [];
  const query = new URLSearchParams(location.search);
  let main;
  if (!route) {
    main = currentUser() ? frame('') : bare();
    fill(main, h('h1', null, 'Page not found'), h('p', null, h('a', { href: '/' }, 'Go to the overview')));
  } else if (route.public) {
    main = bare();
    await route.page(main, params, query);
  } else {
    let failed = null;
    if (!currentUser()) {
      let u = null;
      try { u = await resume(); } catch (err) { failed = err; }
      if (seq !== renderSeq) return;
      if (!u && !failed) {
        navigate(`/login?next=${encodeURIComponent(path + location.search)}`, { replace: true });
        return;
      }
    }
    main = failed ? bare() : frame(route.nav);
    if (failed) {
      // Not "signed out": the server did not answer, or asked to wait.
      fill(main, h('h1', null, 'The dashboard cannot reach the server'),
        h('div', { class: 'error', role: 'alert' }, h('p', null, failed.message || String(failed))),
        h('p', null, h('a', { href: path + location.search }, 'Try again')));
    } else if (route.admin && !isAdmin()) {
      fill(main, h('h1', null, 'Admins only'), h('p', null, 'Only dashboard admins can manage invitations.'));
    } else {
      try {
        await route.page(main, params, query);
      } catch (err) {
        if (seq !== renderSeq) return;
        fill(main, h('h1', null, 'This page could not be loaded'),
          h('div', { class: 'error', role: 'alert' }, h('p', null, err.message || String(err))));
      }
    }
  }
  if (seq !== renderSeq) return;
  const h1 = main.querySelector('h1');
  document.title = `${h1 ? h1.textContent : 'Fluxhook'} · Fluxhook`;
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus();
  }
}

setRenderer(render);
render();
