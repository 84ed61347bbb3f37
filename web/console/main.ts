/**
 * The operator console (`/console`): sign-in with the admin key, a nav of hash routes, and one
 * module per page. Built by esbuild into public/dist/console.js (`npm run build`). Leaving a page
 * stops its timers; a 401 anywhere signs out with the reason.
 */
import { byId, replace } from '../dom.js';
import { ApiError } from '../../packages/client/src/index.js';
import { session, withKey } from './api.js';
import { chatPage } from './chat-page.js';
import { endpointPage } from './endpoint-page.js';
import { feedsPage } from './feeds-page.js';
import { overviewPage } from './overview-page.js';
import { type Page, type PageContext, message } from './ui.js';
import { usersPage } from './users-page.js';
import { webhooksInPage } from './webhooks-in-page.js';
import { webhooksOutPage } from './webhooks-out-page.js';

const PAGES: Record<string, Page> = {
  overview: overviewPage,
  feeds: feedsPage,
  'webhooks-out': webhooksOutPage,
  endpoint: endpointPage,
  'webhooks-in': webhooksInPage,
  chat: chatPage,
  users: usersPage,
};

const signIn = byId<HTMLFormElement>('sign-in');
const keyInput = byId<HTMLInputElement>('admin-key');
const signInMessage = byId('sign-in-message');
const nav = byId('nav');
const signOut = byId<HTMLButtonElement>('sign-out');
const pageRoot = byId('page');
const pageError = byId('page-error');

let leave: () => void = () => undefined;

function showPage(): void {
  leave();
  const [name = 'overview', ...params] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const page = PAGES[name] ?? PAGES.overview;
  for (const item of nav.querySelectorAll('a')) {
    const current = item.getAttribute('href') === `#/${name === 'endpoint' ? 'webhooks-out' : name}`;
    if (current) item.setAttribute('aria-current', 'page');
    else item.removeAttribute('aria-current');
  }
  const timers: number[] = [];
  let active = true;
  const context: PageContext = {
    root: pageRoot,
    params,
    get active() {
      return active;
    },
    report: (error) => {
      if (active) replace(pageError, error === null ? '' : message(error));
    },
    every: (ms, task) => {
      const run = () => task().catch((error: unknown) => context.report(error));
      void run();
      timers.push(window.setInterval(run, ms));
    },
  };
  leave = () => {
    active = false;
    timers.forEach((timer) => clearInterval(timer));
  };
  replace(pageRoot);
  replace(pageError);
  void Promise.resolve(page(context)).catch((error: unknown) => context.report(error));
}

function showSignedIn(signedIn: boolean): void {
  signIn.hidden = signedIn;
  nav.hidden = !signedIn;
  signOut.hidden = !signedIn;
  if (signedIn) showPage();
  else {
    leave();
    replace(pageRoot);
    replace(pageError);
    keyInput.focus();
  }
}

signIn.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  replace(signInMessage);
  // Checked against a cheap admin route before anything is stored.
  withKey(key, '/admin/entitlements')
    .then(() => {
      session.store(key);
      keyInput.value = '';
      showSignedIn(true);
    })
    .catch((error: unknown) => {
      const refused = error instanceof ApiError && (error.status === 401 || error.status === 403);
      replace(signInMessage, refused ? `The admin key was refused (${message(error)}).` : message(error));
    });
});

signOut.addEventListener('click', () => {
  session.clear();
  replace(signInMessage, 'Signed out.');
  showSignedIn(false);
});

session.onSignedOut((text) => {
  replace(signInMessage, text);
  showSignedIn(false);
});

window.addEventListener('hashchange', () => {
  if (session.key()) showPage();
});
showSignedIn(session.key() !== null);
