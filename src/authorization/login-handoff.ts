// Sign-in handed to the app Latchkey serves, in one step of GET /interaction/:uid (after the
// interaction is loaded from this browser's cookie, ./interactions.ts):
//
// - embedded in a Node app (the accounts adapter of createLatchkeyApp): a user the host app has
//   signed in is signed in here at once; anyone else goes to the host's login page and comes back;
// - LOGIN_URL (CONSENT_URL): the browser goes to the operator's app with a one-time challenge
//   (./login-challenges.ts) and comes back with a verifier, which finishes the interaction here,
//   in the browser that started it, only.
//
// Anything else falls through to Latchkey's own login and consent pages.
import type { IncomingMessage } from 'node:http';
import type { Context, Next } from 'koa';
import Provider, { interactionPolicy } from 'oidc-provider';
import { HttpError } from '../web/errors.js';
import { consentAsked } from './consent-asked.js';
import type { ActiveAccount, AccountService, ExternalAccounts } from './accounts.js';
import type { ChallengeKind, LoginChallengeService } from './login-challenges.js';

type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The claims a host app gives for one of its users (the ones Latchkey's scopes release). */
export interface HostClaims {
  email?: string | undefined;
  email_verified?: boolean | undefined;
  name?: string | undefined;
  /** Seconds since the epoch when the user's profile last changed. */
  updated_at?: number | undefined;
}

/** How Latchkey embedded in a Node app knows the app's users (createLatchkeyApp's `accounts`). */
export interface HostAccounts {
  /** The claims of the host's user with this subject; undefined when there is none (any more). */
  findAccount(subject: string): Promise<HostClaims | undefined> | HostClaims | undefined;
  /** The subject signed in at the host in this request (its own session cookie), if any. */
  currentUser(request: IncomingMessage): Promise<string | undefined> | string | undefined;
  /** The host's sign-in page, which sends the browser back to `returnTo` (a path on the host) after. */
  loginUrl(returnTo: string): string;
}

/** The host's users as accounts that may sign in (AccountService's external accounts). */
export function hostAccountsAsExternal(host: HostAccounts): ExternalAccounts {
  return async (subject): Promise<ActiveAccount | undefined> => {
    const claims = await host.findAccount(subject);
    if (!claims) return undefined;
    return {
      id: subject,
      email: claims.email,
      emailVerified: claims.email_verified,
      name: claims.name,
      updatedAt: claims.updated_at === undefined ? undefined : claims.updated_at * 1000,
    };
  };
}

/**
 * A login check of the interaction policy (embedded only): Latchkey's session follows the host's.
 * When the host has signed in someone else, or no one, since, the login prompt runs again (and
 * with prompt=none the client gets login_required).
 */
export function hostSessionCheck(host: HostAccounts) {
  const { Check } = interactionPolicy;
  const reason = 'host_session';
  const description = 'the host app has signed in someone else, or no one';
  return new Check(reason, description, 'login_required', async (ctx) => {
    const accountId = ctx.oidc.session?.accountId;
    if (!accountId || ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
    return (await host.currentUser(ctx.req)) === accountId ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  });
}

export interface LoginHandOffDependencies {
  provider: () => Provider;
  challenges: LoginChallengeService;
  accounts: Pick<AccountService, 'getActive'>;
  /** The issuer's path ('' at the root of its host): where the host sends the browser back to. */
  basePath: string;
  loginUrl?: string | undefined;
  consentUrl?: string | undefined;
  host?: HostAccounts | undefined;
}

/** Login prompts that ask for a new sign-in even when someone is signed in (prompt=login, max_age). */
const FORCED_LOGIN = new Set(['login_prompt', 'max_age']);
/** The query mark of the browser's return from the host's sign-in page (embedded). */
const HOST_RETURN = 'host_login';

function withQuery(base: string, name: string, value: string): string {
  const url = new URL(base);
  url.searchParams.set(name, value);
  return url.href;
}

function expiredLink(): HttpError {
  return new HttpError(
    400,
    'invalid_request',
    'This sign-in link has expired or was used already. Go back to the app and sign in again.',
  );
}

async function clientOf(deps: LoginHandOffDependencies, details: InteractionDetails) {
  const client = await deps.provider().Client.find(String(details.params.client_id));
  if (!client)
    throw new HttpError(400, 'invalid_client', 'The app that sent you here is no longer registered.');
  return client;
}

const list = (value: unknown): string[] =>
  (Array.isArray(value) ? value : typeof value === 'string' ? value.split(' ') : []).filter(Boolean);

/** Claims oidc-provider says are missing: kept as they are (consentAsked covers the scopes). */
function pick(missing: MissingScopes): MissingScopes {
  return missing.missingOIDCClaims ? { missingOIDCClaims: missing.missingOIDCClaims } : {};
}

/** The missing scopes of a consent prompt, as oidc-provider details them. */
interface MissingScopes {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

async function sendToLoginUrl(deps: LoginHandOffDependencies, ctx: Context, loginUrl: string) {
  const details: InteractionDetails = ctx.state.interaction;
  const client = await clientOf(deps, details);
  const { params } = details;
  const challenge = await deps.challenges.start('login', details.uid, {
    client: { client_id: client.clientId, client_name: client.clientName ?? null },
    requested_scope: list(params.scope),
    requested_access_token_audience: list(params.resource),
    prompt: typeof params.prompt === 'string' ? params.prompt : null,
    login_hint: typeof params.login_hint === 'string' ? params.login_hint : null,
    max_age: params.max_age === undefined ? null : Number(params.max_age),
    subject: details.session?.accountId ?? null,
  });
  ctx.redirect(withQuery(loginUrl, 'login_challenge', challenge));
}

async function sendToConsentUrl(deps: LoginHandOffDependencies, ctx: Context, consentUrl: string) {
  const details: InteractionDetails = ctx.state.interaction;
  const client = await clientOf(deps, details);
  const missing: MissingScopes = consentAsked(details);
  const challenge = await deps.challenges.start('consent', details.uid, {
    client: { client_id: client.clientId, client_name: client.clientName ?? null },
    subject: details.session!.accountId,
    requested_scope: [
      ...new Set([
        ...(missing.missingOIDCScope ?? []),
        ...Object.values(missing.missingResourceScopes ?? {}).flat(),
      ]),
    ],
    requested_access_token_audience: Object.keys(missing.missingResourceScopes ?? {}),
  });
  ctx.redirect(withQuery(consentUrl, 'consent_challenge', challenge));
}

/** Embedded: the host's signed-in user signs in here; anyone else goes to the host's sign-in page. */
async function signInFromHost(deps: LoginHandOffDependencies, ctx: Context, host: HostAccounts) {
  const details: InteractionDetails = ctx.state.interaction;
  const forced = details.prompt.reasons.some((reason) => FORCED_LOGIN.has(reason));
  // prompt=login and max_age ask for a fresh sign-in: the host's page is shown once in any case.
  const subject = forced && ctx.query[HOST_RETURN] !== 'done' ? undefined : await host.currentUser(ctx.req);
  if (!subject) {
    const back = `${deps.basePath}/interaction/${encodeURIComponent(details.uid)}`;
    ctx.redirect(host.loginUrl(forced ? `${back}?${HOST_RETURN}=done` : back));
    return;
  }
  if (!(await deps.accounts.getActive(subject)))
    throw new HttpError(400, 'invalid_request', 'Your account cannot be used to sign in to other apps.');
  await finish(deps, ctx, { login: { accountId: subject } }, false);
}

async function finish(
  deps: LoginHandOffDependencies,
  ctx: Context,
  result: Record<string, unknown>,
  mergeWithLastSubmission: boolean,
) {
  await deps.provider().interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission });
  ctx.respond = false;
}

/** Grants the scopes the app's consent answer allowed and rejects the rest of what was asked. */
async function grantAllowed(deps: LoginHandOffDependencies, details: InteractionDetails, allowed: string[]) {
  const provider = deps.provider();
  const { session, grantId, params } = details;
  if (!session) throw expiredLink();
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: String(params.client_id) });
  if (!grant) throw expiredLink();
  const granted = new Set(allowed);
  const split = (scopes: string[] = []) => ({
    yes: scopes.filter((scope) => granted.has(scope)).join(' '),
    no: scopes.filter((scope) => !granted.has(scope)).join(' '),
  });
  const missing: MissingScopes = {
    ...consentAsked(details),
    ...pick(details.prompt.details as MissingScopes),
  };
  // A scope said no to is recorded as such, so oidc-provider does not ask for it again at once.
  const oidc = split(missing.missingOIDCScope);
  if (oidc.yes) grant.addOIDCScope(oidc.yes);
  if (oidc.no) grant.rejectOIDCScope(oidc.no);
  if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    const answer = split(scopes);
    if (answer.yes) grant.addResourceScope(resource, answer.yes);
    if (answer.no) grant.rejectResourceScope(resource, answer.no);
  }
  return grant.save();
}

/** The browser came back from the operator's app with a verifier: finish what the app answered. */
async function finishFromVerifier(
  deps: LoginHandOffDependencies,
  ctx: Context,
  kind: ChallengeKind,
  verifier: string,
) {
  const details: InteractionDetails = ctx.state.interaction;
  const outcome = await deps.challenges.redeem(kind, verifier);
  // The verifier must belong to the interaction of this browser's cookie (loaded before this step).
  if (!outcome || outcome.uid !== details.uid || details.prompt.name !== kind) throw expiredLink();
  if ('error' in outcome) {
    await finish(
      deps,
      ctx,
      {
        error: outcome.error,
        ...(outcome.errorDescription ? { error_description: outcome.errorDescription } : {}),
      },
      false,
    );
    return;
  }
  if (outcome.kind === 'login') {
    await finish(deps, ctx, { login: { accountId: outcome.subject, remember: outcome.remember } }, false);
    return;
  }
  if (outcome.kind === 'consent') {
    const grantId = await grantAllowed(deps, details, outcome.grantScope);
    await finish(deps, ctx, { consent: { grantId } }, true);
  }
}

/**
 * The step of GET /interaction/:uid that hands sign-in (and consent) over, when Latchkey is set up
 * to; otherwise, and for whatever it does not hand over, the page follows.
 */
export function loginHandOff(deps: LoginHandOffDependencies) {
  return async function loginHandOff(ctx: Context, next: Next): Promise<void> {
    const details: InteractionDetails = ctx.state.interaction;
    for (const kind of ['login', 'consent'] as const) {
      const verifier = ctx.query[`${kind}_verifier`];
      if (typeof verifier === 'string') return finishFromVerifier(deps, ctx, kind, verifier);
    }
    if (details.prompt.name === 'login') {
      if (deps.host) return signInFromHost(deps, ctx, deps.host);
      if (deps.loginUrl) return sendToLoginUrl(deps, ctx, deps.loginUrl);
    }
    if (details.prompt.name === 'consent' && deps.consentUrl) {
      // First-party apps are trusted on Latchkey's own page too: they skip consent (./interactions.ts).
      const client = await clientOf(deps, details);
      if (!(client.metadata() as { first_party?: boolean }).first_party)
        return sendToConsentUrl(deps, ctx, deps.consentUrl);
    }
    await next();
  };
}
