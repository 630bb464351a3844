// The login and consent pages (DESIGN.md "Login and consent pages"): oidc-provider hands the
// browser to /interaction/:uid; these routes show the page, check the form and tell the
// provider the outcome. Each route is a pipeline of small named steps.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { csrfToken, verifyCsrf } from '../web/csrf.js';
import { formBody } from '../web/request-body.js';
import { HttpError, renderErrors } from '../web/errors.js';
import { renderView } from '../web/views.js';
import type { AccountService } from './accounts.js';
import type { ApiService } from './apis.js';
import { attemptLogin, type LoginThrottle } from './login-throttle.js';
import { SCOPE_DESCRIPTIONS } from './provider.js';
import { consentAsked } from './consent-asked.js';

export interface InteractionDependencies {
  provider: () => Provider;
  accounts: AccountService;
  apis: ApiService;
  throttle: LoginThrottle;
  /**
   * A step before the page that may hand sign-in and consent to the operator's app instead
   * (LOGIN_URL, CONSENT_URL, a host app: ./login-handoff.ts); it sees the loaded interaction.
   */
  handOff?: ((ctx: Context, next: Next) => Promise<void>) | undefined;
}

type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

const loginForm = z.object({
  email: z.string().trim().min(1).max(320),
  password: z.string().min(1).max(1024),
  _csrf: z.string(),
});

function noStore(ctx: Context, next: Next) {
  ctx.set('Cache-Control', 'no-store');
  return next();
}

/** Loads the interaction the browser's cookie points at, and checks it is the one in the URL. */
function loadInteraction(deps: InteractionDependencies) {
  return async function loadInteraction(ctx: Context, next: Next) {
    let details: InteractionDetails;
    try {
      details = await deps.provider().interactionDetails(ctx.req, ctx.res);
    } catch {
      throw new HttpError(
        400,
        'invalid_request',
        'It took too long, or it was opened in another browser or tab. Go back to the app and sign in again.',
        { heading: 'This sign-in has expired' },
      );
    }
    if (details.uid !== ctx.params.uid) {
      throw new HttpError(
        400,
        'invalid_request',
        'This page belongs to another sign-in than the one in progress in this browser. Go back to the app and sign in again.',
        { heading: 'This sign-in has expired' },
      );
    }
    ctx.state.interaction = details;
    await next();
  };
}

async function clientOf(deps: InteractionDependencies, details: InteractionDetails) {
  const client = await deps.provider().Client.find(String(details.params.client_id));
  if (!client)
    throw new HttpError(400, 'invalid_client', 'The app that sent you here is no longer registered.');
  return client;
}

/** What the pages show of a client: its registered name, site, logo, policy and terms. */
function clientView(client: {
  clientId: string;
  clientName?: string | undefined;
  clientUri?: string | undefined;
  logoUri?: string | undefined;
  policyUri?: string | undefined;
  tosUri?: string | undefined;
}) {
  return {
    clientId: client.clientId,
    name: client.clientName ?? client.clientId,
    uri: client.clientUri,
    logoUri: client.logoUri,
    policyUri: client.policyUri,
    tosUri: client.tosUri,
  };
}

/** The host the browser goes back to after the consent page (none in the device flow). */
function returnHost(details: InteractionDetails): string | undefined {
  const redirectUri = details.params.redirect_uri;
  if (typeof redirectUri !== 'string') return undefined;
  try {
    return new URL(redirectUri).host || undefined;
  } catch {
    return undefined;
  }
}

function renderLogin(
  deps: InteractionDependencies,
  ctx: Context,
  locals: { email?: string; error?: string },
) {
  return clientOf(deps, ctx.state.interaction).then((client) => {
    ctx.type = 'html';
    ctx.body = renderView('login', {
      title: 'Sign in',
      uid: ctx.state.interaction.uid,
      csrfToken: csrfToken(ctx),
      client: clientView(client),
      ...locals,
    });
  });
}

/** Grants what the interaction asks for and finishes it (consent given or not needed). */
async function grantConsent(deps: InteractionDependencies, ctx: Context) {
  const provider = deps.provider();
  const details: InteractionDetails = ctx.state.interaction;
  const { prompt, params, session, grantId } = details;
  if (!session) throw new HttpError(400, 'invalid_request', 'Sign in first.');
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: String(params.client_id) });
  if (!grant)
    throw new HttpError(
      400,
      'invalid_request',
      'This sign-in request has expired. Start again from the app.',
    );
  const missing = prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  const savedGrantId = await grant.save();
  await provider.interactionFinished(
    ctx.req,
    ctx.res,
    { consent: { grantId: savedGrantId } },
    { mergeWithLastSubmission: true },
  );
}

function showInteraction(deps: InteractionDependencies) {
  return async function showInteraction(ctx: Context) {
    const details: InteractionDetails = ctx.state.interaction;
    if (details.prompt.name === 'login') {
      await renderLogin(deps, ctx, {
        email: typeof details.params.login_hint === 'string' ? details.params.login_hint : undefined,
      });
      return;
    }
    if (details.prompt.name !== 'consent') {
      throw new HttpError(400, 'invalid_request', `Unsupported prompt ${details.prompt.name}.`);
    }
    const client = await clientOf(deps, details);
    // First-party apps (`clients add --first-party`) are trusted: no consent page.
    if ((client.metadata() as { first_party?: boolean }).first_party) {
      await grantConsent(deps, ctx);
      ctx.respond = false;
      return;
    }
    const account = details.session ? await deps.accounts.getActive(details.session.accountId) : undefined;
    if (!account)
      throw new HttpError(
        400,
        'invalid_request',
        'Your account is no longer available. Start again from the app.',
      );
    const missing = consentAsked(details);
    const scopes = (missing.missingOIDCScope ?? [])
      .filter((scope) => scope !== 'openid' || (missing.missingOIDCScope ?? []).length === 1)
      .map((name) => ({ name, description: SCOPE_DESCRIPTIONS[name] ?? name }));
    const resources = await Promise.all(
      Object.entries(missing.missingResourceScopes ?? {}).map(async ([identifier, names]) => {
        const api = await deps.apis.get(identifier);
        return {
          identifier,
          name: api?.name,
          scopes: names.map((name) => ({ name, description: api?.scopeDescriptions?.[name] ?? name })),
        };
      }),
    );
    ctx.type = 'html';
    ctx.body = renderView('consent', {
      title: 'Allow access',
      uid: details.uid,
      csrfToken: csrfToken(ctx),
      client: clientView(client),
      returnHost: returnHost(details),
      account: { email: account.email, name: account.name },
      scopes,
      resources,
    });
  };
}

function submitLogin(deps: InteractionDependencies) {
  return async function submitLogin(ctx: Context) {
    const details: InteractionDetails = ctx.state.interaction;
    if (details.prompt.name !== 'login')
      throw new HttpError(400, 'invalid_request', 'You are already signed in.');
    const form = loginForm.safeParse(ctx.request.body);
    if (!form.success) {
      ctx.status = 400;
      await renderLogin(deps, ctx, { error: 'Enter your email and password.' });
      return;
    }
    const outcome = await attemptLogin(deps.accounts, deps.throttle, { ...form.data, address: ctx.ip });
    if (!outcome.ok) {
      ctx.status = outcome.status;
      if (outcome.retryAfter) ctx.set('Retry-After', String(outcome.retryAfter));
      await renderLogin(deps, ctx, { email: form.data.email, error: outcome.error });
      return;
    }
    const account = outcome.account;
    await deps
      .provider()
      .interactionFinished(
        ctx.req,
        ctx.res,
        { login: { accountId: account.id } },
        { mergeWithLastSubmission: false },
      );
    ctx.respond = false;
  };
}

function confirmConsent(deps: InteractionDependencies) {
  return async function confirmConsent(ctx: Context) {
    if (ctx.state.interaction.prompt.name !== 'consent')
      throw new HttpError(400, 'invalid_request', 'Nothing to confirm.');
    await grantConsent(deps, ctx);
    ctx.respond = false;
  };
}

function abortInteraction(deps: InteractionDependencies) {
  return async function abortInteraction(ctx: Context) {
    // RFC 6749 §4.1.2.1: the user said no.
    await deps
      .provider()
      .interactionFinished(
        ctx.req,
        ctx.res,
        { error: 'access_denied', error_description: 'The user denied the request.' },
        { mergeWithLastSubmission: false },
      );
    ctx.respond = false;
  };
}

export function interactionRoutes(deps: InteractionDependencies): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  const load = loadInteraction(deps);
  const handOff = deps.handOff ? [deps.handOff] : [];
  router.get('/', noStore, renderErrors, load, ...handOff, showInteraction(deps));
  router.post('/login', noStore, renderErrors, formBody, verifyCsrf, load, submitLogin(deps));
  router.post('/confirm', noStore, renderErrors, formBody, verifyCsrf, load, confirmConsent(deps));
  router.post('/abort', noStore, renderErrors, formBody, verifyCsrf, load, abortInteraction(deps));
  return router;
}
