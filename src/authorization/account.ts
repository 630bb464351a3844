// The account page: a signed-in user sees the apps they granted access to (name, scopes, when)
// and can revoke one; its grant, tokens and codes are removed at once.
//
// Its sessions live in the store (an oidc record of model AccountSession under the SHA-256 of a
// random id, carrying the accountId): signing out deletes the record, so a copied cookie is worth
// nothing afterwards, and an admin disabling or removing the user (revokeByAccountId) or a new
// password (AccountService.endSessions) ends them too.
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { csrfToken, verifyCsrf } from '../web/csrf.js';
import { formBody } from '../web/request-body.js';
import { HttpError, renderErrors } from '../web/errors.js';
import { localPath } from '../web/mount-path.js';
import { renderView } from '../web/views.js';
import { openRecordPayload, RecordAdapter } from '../store/oidc-adapter.js';
import type { Keyring } from '../store/encryption.js';
import type { Store } from '../store/types.js';
import { ACCOUNT_SESSION_MODEL, type AccountService } from './accounts.js';
import { attemptLogin, type LoginThrottle } from './login-throttle.js';

export interface AccountPageDependencies {
  provider: () => Provider;
  store: Store;
  keyring: Keyring;
  accounts: AccountService;
  throttle: LoginThrottle;
}

const COOKIE = 'latchkey.account';
/** oidc-provider's browser session cookie (provider.ts, cookies.names.session). */
const OIDC_SESSION_COOKIE = 'latchkey.session';
const SESSION_SECONDS = 60 * 60;

const loginForm = z.object({
  email: z.string().trim().min(1).max(320),
  password: z.string().min(1).max(1024),
  _csrf: z.string(),
  return_to: z.string().optional(),
});

function noStore(ctx: Context, next: Next) {
  ctx.set('Cache-Control', 'no-store');
  return next();
}

/** The account page's sessions in the store. */
class AccountSessions {
  readonly #records: RecordAdapter;

  constructor(store: Store, keyring: Keyring) {
    this.#records = new RecordAdapter(ACCOUNT_SESSION_MODEL, store, keyring);
  }

  /** A new session for the account; returns the id its cookie carries. */
  async start(accountId: string): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    await this.#records.upsert(id, { accountId, iat: Math.floor(Date.now() / 1000) }, SESSION_SECONDS);
    return id;
  }

  async accountOf(id: string): Promise<string | undefined> {
    const session = await this.#records.find(id);
    return typeof session?.accountId === 'string' ? session.accountId : undefined;
  }

  end(id: string): Promise<void> {
    return this.#records.destroy(id);
  }
}

function sessionCookieOptions(ctx: Context) {
  return {
    signed: true,
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: ctx.secure,
    path: localPath(ctx, '/account'),
  };
}

/**
 * The signed-in account: the account page's own session, or else the browser's Latchkey session
 * (someone who just signed in to an app need not sign in again here).
 */
async function currentAccountId(
  deps: AccountPageDependencies,
  sessions: AccountSessions,
  ctx: Context,
): Promise<string | undefined> {
  const own = ctx.cookies.get(COOKIE, { signed: true });
  const accountId = own ? await sessions.accountOf(own) : undefined;
  if (accountId) return accountId;
  const sessionId = ctx.cookies.get(OIDC_SESSION_COOKIE, { signed: true });
  if (!sessionId) return undefined;
  const session = await deps.provider().Session.find(sessionId);
  return session?.accountId;
}

interface ConnectedApp {
  clientId: string;
  clientName: string;
  scopes: string[];
  grantedAt: string;
  grantIds: string[];
}

async function connectedApps(deps: AccountPageDependencies, accountId: string): Promise<ConnectedApp[]> {
  const records = await deps.store.oidc.findByAccountId('Grant', accountId);
  const apps = new Map<string, ConnectedApp>();
  for (const record of records) {
    const grant = openRecordPayload(deps.keyring, record) as {
      clientId: string;
      iat: number;
      openid?: { scope?: string };
      resources?: Record<string, string>;
    };
    const scopes = [
      ...(grant.openid?.scope?.split(' ') ?? []),
      ...Object.values(grant.resources ?? {}).flatMap((scope) => scope.split(' ')),
    ].filter(Boolean);
    const existing = apps.get(grant.clientId);
    if (existing) {
      existing.grantIds.push(record.grantId!);
      existing.scopes = [...new Set([...existing.scopes, ...scopes])];
      continue;
    }
    const client = await deps.provider().Client.find(grant.clientId);
    apps.set(grant.clientId, {
      clientId: grant.clientId,
      clientName: client?.clientName ?? grant.clientId,
      scopes: [...new Set(scopes)],
      grantedAt: new Date(grant.iat * 1000).toISOString(),
      grantIds: [record.grantId!],
    });
  }
  return [...apps.values()].sort((a, b) => a.clientName.localeCompare(b.clientName));
}

function showAccount(deps: AccountPageDependencies, sessions: AccountSessions) {
  return async function showAccount(ctx: Context) {
    const accountId = await currentAccountId(deps, sessions, ctx);
    const account = accountId ? await deps.accounts.getActive(accountId) : undefined;
    ctx.type = 'html';
    if (!account) {
      ctx.body = renderView('account-login', {
        title: 'Sign in',
        csrfToken: csrfToken(ctx),
        message: ctx.query.signed_out === '1' ? 'You are signed out.' : undefined,
      });
      return;
    }
    const apps = await connectedApps(deps, account.id);
    ctx.body = renderView('account', {
      title: 'Connected apps',
      csrfToken: csrfToken(ctx),
      account: { email: account.email, name: account.name },
      apps: apps.map(({ grantIds: _grantIds, ...app }) => app),
      message: ctx.query.revoked === '1' ? 'Access revoked.' : undefined,
    });
  };
}

function signIn(deps: AccountPageDependencies, sessions: AccountSessions) {
  return async function signIn(ctx: Context) {
    const form = loginForm.safeParse(ctx.request.body);
    const render = (status: number, error: string, email?: string) => {
      ctx.status = status;
      ctx.type = 'html';
      ctx.body = renderView('account-login', { title: 'Sign in', csrfToken: csrfToken(ctx), email, error });
    };
    if (!form.success) return render(400, 'Enter your email and password.');
    const outcome = await attemptLogin(deps.accounts, deps.throttle, { ...form.data, address: ctx.ip });
    if (!outcome.ok) {
      if (outcome.retryAfter) ctx.set('Retry-After', String(outcome.retryAfter));
      return render(outcome.status, outcome.error, form.data.email);
    }
    // A fresh session id at every sign-in (no fixation); the browser's previous one ends.
    const previous = ctx.cookies.get(COOKIE, { signed: true });
    if (previous) await sessions.end(previous);
    const id = await sessions.start(outcome.account.id);
    ctx.cookies.set(COOKIE, id, { ...sessionCookieOptions(ctx), maxAge: SESSION_SECONDS * 1000 });
    ctx.redirect(localPath(ctx, '/account'));
  };
}

/**
 * Signs out of the account page and of Latchkey in this browser: the account session and the
 * browser's oidc-provider session (so /account does not sign the user straight back in through
 * it) are deleted from the store, and their cookies cleared. POST with the form token only: a GET
 * or a forged form must not sign anyone out.
 */
function signOut(deps: AccountPageDependencies, sessions: AccountSessions) {
  return async function signOut(ctx: Context) {
    const own = ctx.cookies.get(COOKIE, { signed: true });
    if (own) await sessions.end(own);
    const oidcSessionId = ctx.cookies.get(OIDC_SESSION_COOKIE, { signed: true });
    if (oidcSessionId) {
      const session = await deps.provider().Session.find(oidcSessionId);
      await session?.destroy();
    }
    ctx.cookies.set(COOKIE, null, sessionCookieOptions(ctx));
    ctx.cookies.set(OIDC_SESSION_COOKIE, null, { signed: true, httpOnly: true, path: '/' });
    ctx.state.log?.info({ event: 'account.signed_out' });
    ctx.redirect(localPath(ctx, '/account?signed_out=1'));
  };
}

/** GET /account/logout (an old link) signs no one out: it shows the account page and its button. */
function signOutByGet(ctx: Context) {
  ctx.redirect(localPath(ctx, '/account'));
}

function revokeApp(deps: AccountPageDependencies, sessions: AccountSessions) {
  return async function revokeApp(ctx: Context) {
    const accountId = await currentAccountId(deps, sessions, ctx);
    if (!accountId)
      throw new HttpError(401, 'login_required', 'Sign in to manage your connected apps.', {
        action: { href: '/account', label: 'Sign in' },
      });
    const app = (await connectedApps(deps, accountId)).find(
      (entry) => entry.clientId === ctx.params.clientId,
    );
    if (!app)
      throw new HttpError(404, 'invalid_request', 'You have not granted access to that app.', {
        action: { href: '/account', label: 'Back to your apps' },
      });
    // Removing the grant id removes the grant and every code and token issued under it.
    for (const grantId of app.grantIds) await deps.store.oidc.revokeByGrantId(grantId);
    ctx.state.log?.info({ event: 'grant.revoked', clientId: app.clientId, via: 'account page' });
    ctx.redirect(localPath(ctx, '/account?revoked=1'));
  };
}

export function accountRoutes(deps: AccountPageDependencies): Router {
  const sessions = new AccountSessions(deps.store, deps.keyring);
  const router = new Router({ prefix: '/account' });
  router.get('/', noStore, renderErrors, showAccount(deps, sessions));
  router.post('/login', noStore, renderErrors, formBody, verifyCsrf, signIn(deps, sessions));
  router.post('/logout', noStore, renderErrors, formBody, verifyCsrf, signOut(deps, sessions));
  router.get('/logout', noStore, signOutByGet);
  router.post(
    '/apps/:clientId/revoke',
    noStore,
    renderErrors,
    formBody,
    verifyCsrf,
    revokeApp(deps, sessions),
  );
  return router;
}
