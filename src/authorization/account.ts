// The account page: a signed-in user sees the apps they granted access to (name, scopes, when)
// and can revoke one; its grant, tokens and codes are removed at once.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { csrfToken, verifyCsrf } from '../web/csrf.js';
import { formBody } from '../web/request-body.js';
import { HttpError, renderErrors } from '../web/errors.js';
import { renderView } from '../web/views.js';
import { openRecordPayload } from '../store/oidc-adapter.js';
import type { Keyring } from '../store/encryption.js';
import type { Store } from '../store/types.js';
import type { AccountService } from './accounts.js';
import { attemptLogin, type LoginThrottle } from './login-throttle.js';

export interface AccountPageDependencies {
  provider: () => Provider;
  store: Store;
  keyring: Keyring;
  accounts: AccountService;
  throttle: LoginThrottle;
}

const COOKIE = 'latchkey.account';
const SESSION_MS = 60 * 60 * 1000;

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

/**
 * The signed-in account: the account page's own cookie, or else the browser's Latchkey session
 * (someone who just signed in to an app need not sign in again here).
 */
async function currentAccountId(deps: AccountPageDependencies, ctx: Context): Promise<string | undefined> {
  const own = ctx.cookies.get(COOKIE, { signed: true });
  if (own) {
    const [accountId, expires] = own.split('.');
    if (accountId && Number(expires) > Date.now()) return accountId;
  }
  const sessionId = ctx.cookies.get('latchkey.session', { signed: true });
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

function showAccount(deps: AccountPageDependencies) {
  return async function showAccount(ctx: Context) {
    const accountId = await currentAccountId(deps, ctx);
    const account = accountId ? await deps.accounts.getActive(accountId) : undefined;
    ctx.type = 'html';
    if (!account) {
      ctx.body = renderView('account-login', { title: 'Sign in', csrfToken: csrfToken(ctx) });
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

function signIn(deps: AccountPageDependencies) {
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
    const account = outcome.account;
    ctx.cookies.set(COOKIE, `${account.id}.${Date.now() + SESSION_MS}`, {
      signed: true,
      httpOnly: true,
      sameSite: 'strict',
      secure: ctx.secure,
      maxAge: SESSION_MS,
      path: '/account',
    });
    ctx.redirect('/account');
  };
}

function signOut(ctx: Context) {
  ctx.cookies.set(COOKIE, null, { signed: true, path: '/account' });
  ctx.redirect('/account');
}

function revokeApp(deps: AccountPageDependencies) {
  return async function revokeApp(ctx: Context) {
    const accountId = await currentAccountId(deps, ctx);
    if (!accountId) throw new HttpError(401, 'login_required', 'Sign in to manage your connected apps.');
    const app = (await connectedApps(deps, accountId)).find(
      (entry) => entry.clientId === ctx.params.clientId,
    );
    if (!app) throw new HttpError(404, 'invalid_request', 'You have not granted access to that app.');
    // Removing the grant id removes the grant and every code and token issued under it.
    for (const grantId of app.grantIds) await deps.store.oidc.revokeByGrantId(grantId);
    ctx.state.log?.info({ event: 'grant.revoked', clientId: app.clientId, via: 'account page' });
    ctx.redirect('/account?revoked=1');
  };
}

export function accountRoutes(deps: AccountPageDependencies): Router {
  const router = new Router({ prefix: '/account' });
  router.get('/', noStore, renderErrors, showAccount(deps));
  router.post('/login', noStore, renderErrors, formBody, verifyCsrf, signIn(deps));
  router.get('/logout', noStore, signOut);
  router.post('/apps/:clientId/revoke', noStore, renderErrors, formBody, verifyCsrf, revokeApp(deps));
  return router;
}
