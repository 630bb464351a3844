// Assembles the service: store, keys and services, the oidc-provider instance, and one Koa app
// whose middleware every area shares (request ids, logs, security headers, errors).
import { randomBytes, randomUUID } from 'node:crypto';
import Koa, { type Context, type Next } from 'koa';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';
import type { ClientMetadata, KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { accountRoutes } from '../authorization/account.js';
import { AccountService } from '../authorization/accounts.js';
import { ApiService } from '../authorization/apis.js';
import { ClientGrantService } from '../authorization/client-grants.js';
import { ClientService } from '../authorization/clients.js';
import { interactionRoutes } from '../authorization/interactions.js';
import { KeyService } from '../authorization/keys.js';
import { LinkedSubjectService } from '../authorization/linked-subjects.js';
import { LoginChallengeService } from '../authorization/login-challenges.js';
import {
  hostAccountsAsExternal,
  hostSessionCheck,
  loginHandOff,
  type HostAccounts,
} from '../authorization/login-handoff.js';
import { LoginThrottle, type ThrottleOptions } from '../authorization/login-throttle.js';
import { createAuthorizationProvider, LONG_COOKIE_OPTIONS, SESSION_TTL } from '../authorization/provider.js';
import { resourceRoutes } from '../resource/routes.js';
import { storeReplayStore } from '../resource/in-process.js';
import { ensureAdminApi } from '../admin/admin-api.js';
import { adminMiddleware } from '../admin/middleware.js';
import { ensureV1Api } from '../resource/v1-api.js';
import { vaultMiddleware } from '../vault/middleware.js';
import { createVault, ensureVaultApi, type Vault, type VaultOptions } from '../vault/vault.js';
import type { Keyring } from '../store/encryption.js';
import type { Store } from '../store/types.js';
import { subscribeProviderEvents } from './events.js';
import { CookieKeys } from '../web/cookie-keys.js';
import { createMetrics } from './metrics.js';
import { securityHeaders } from './security-headers.js';
import { notFoundPage } from '../web/errors.js';
import { createOutboundClient } from '../web/outbound.js';
import { DEFAULT_VIEW_GLOBALS, useViewGlobals } from '../web/views.js';
import { brandedPages } from './branding.js';
import { issuerIsHttps, treatRequestsAsSecure, warnOfPlainHttp } from './secure-cookies.js';
import { issuerPath, ownContext, underIssuerPath } from './mount-path.js';

export interface Services {
  accounts: AccountService;
  clients: ClientService;
  apis: ApiService;
  grants: ClientGrantService;
  keys: KeyService;
  /** Users an app signs in through LOGIN_URL: their subjects and claims. */
  linkedSubjects: LinkedSubjectService;
  /** The login and consent challenges of LOGIN_URL and CONSENT_URL. */
  challenges: LoginChallengeService;
}

export interface Latchkey {
  readonly app: Koa;
  readonly config: Config;
  readonly store: Store;
  readonly keyring: Keyring;
  readonly services: Services;
  readonly vault: Vault;
  /** The provider now serving requests (replaced when the signing keys change). */
  provider(): Provider;
  /** Re-reads the signing keys and, if they changed, swaps in a provider that uses them. */
  reloadKeys(): Promise<boolean>;
  close(): Promise<void>;
}

export interface LatchkeyOptions {
  logger: Logger;
  throttle?: ThrottleOptions;
  /** How often a running server looks for rotated signing keys (ms); 0 disables. Default 1 s. */
  keyReloadIntervalMs?: number;
  /** A worker of `WORKERS=n`: /metrics answers for every worker (the primary gathers them). */
  clusterMetrics?: boolean;
  vault?: VaultOptions;
  /** Embedded in a Node app: how Latchkey knows the host's users (createLatchkeyApp's `accounts`). */
  accounts?: HostAccounts | undefined;
}

export function createServices(
  store: Store,
  keyring: Keyring,
  issuer: string,
  host?: HostAccounts,
): Services {
  const apis = new ApiService(store);
  const grants = new ClientGrantService(store, apis);
  const linkedSubjects = new LinkedSubjectService(store, keyring);
  const hostAccounts = host ? hostAccountsAsExternal(host) : undefined;
  // An id that is none of Latchkey's own accounts: a host app's user, else a subject an app linked.
  const accounts = new AccountService(
    store,
    async (id) => (await hostAccounts?.(id)) ?? linkedSubjects.account(id),
  );
  return {
    accounts,
    clients: new ClientService(store, keyring, apis, grants),
    apis,
    grants,
    keys: new KeyService(store, keyring),
    linkedSubjects,
    challenges: new LoginChallengeService({ store, keyring, issuer, accounts, linkedSubjects }),
  };
}

/** Cookie signing keys: made at first start, kept (sealed) in the store. */
async function cookieKeys(store: Store, keyring: Keyring): Promise<string[]> {
  const fresh = keyring.seal(JSON.stringify([randomBytes(32).toString('base64url')]), 'setting:cookie-keys');
  const stored = await store.settings.putIfAbsent('cookie-keys', fresh);
  return JSON.parse(keyring.open(stored, 'setting:cookie-keys')) as string[];
}

/** The path as logged: a one-time connect link carries its token in the path, so it is cut. */
function loggablePath(path: string): string {
  return path.startsWith('/vault/connect/') ? '/vault/connect/[redacted]' : path;
}

/** `ctx.state` of every request: its id, and a logger bound to it. */
class RequestState {
  readonly requestId: string;
  readonly #logger: Logger;
  #log: Logger | undefined;

  constructor(logger: Logger, requestId: string) {
    this.#logger = logger;
    this.requestId = requestId;
  }

  /** Made when a handler first logs: most requests only ever write the access line. */
  get log(): Logger {
    return (this.#log ??= this.#logger.child({ requestId: this.requestId }));
  }
}

function requestContext(logger: Logger) {
  return async function requestContext(ctx: Context, next: Next) {
    const incoming = ctx.get('x-request-id');
    const requestId = /^[\w.-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    ctx.state = new RequestState(logger, requestId);
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      // The path only: query strings carry codes, tokens and state.
      logger.info(
        {
          requestId,
          method: ctx.method,
          path: loggablePath(ctx.path),
          status: ctx.status,
          ms: Math.round((performance.now() - started) * 10) / 10,
        },
        'request',
      );
    }
  };
}

function health(store: Store) {
  return async function health(ctx: Context, next: Next) {
    if (ctx.path !== '/healthz') return next();
    try {
      await store.ping();
      ctx.body = { status: 'ok' };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'unavailable' };
    }
  };
}

/**
 * Hands a request to the area its path falls under, first match wins; the rest go on to the
 * provider. One step for all of them: the token endpoint's requests should not pay a middleware
 * hop for every page and API area, nor try their routes.
 */
function byPath(
  areas: readonly (readonly [prefix: string, middleware: (ctx: any, next: Next) => unknown])[],
) {
  return function byPath(ctx: Context, next: Next) {
    const path = ctx.path;
    for (const [prefix, middleware] of areas) if (path.startsWith(prefix)) return middleware(ctx, next);
    return next();
  };
}

/**
 * oidc-provider 9.13 persists a brand-new browser session in a `finally` after its error handler
 * has answered (say, a device form posted without a session): persisting a session that was never
 * saved throws. The 4xx answer already set is the right one: keep it.
 */
function answeredBeforeSessionPersistFailed(ctx: Context, error: unknown): boolean {
  return (
    error instanceof TypeError &&
    error.message.startsWith('persist can only be called on previously persisted Sessions') &&
    ctx.status >= 400 &&
    ctx.status < 500
  );
}

/** RFC 8414 metadata at its own well-known path: the same document as OIDC discovery. */
async function authorizationServerMetadata(ctx: Context, next: Next) {
  if (ctx.path === '/.well-known/oauth-authorization-server') ctx.path = '/.well-known/openid-configuration';
  await next();
}

export async function createLatchkey(
  config: Config,
  store: Store,
  keyring: Keyring,
  options: LatchkeyOptions,
): Promise<Latchkey> {
  const { logger } = options;
  const services = createServices(store, keyring, config.issuer, options.accounts);
  const basePath = issuerPath(config.issuer);
  await services.keys.ensure();
  await ensureV1Api(services.apis, config.issuer);
  await ensureVaultApi(services.apis, config.issuer);
  await ensureAdminApi(services.apis, config.issuer);
  const cookies = await cookieKeys(store, keyring);
  // Cookies are Secure whenever the issuer is https, whatever the request looks like (./secure-cookies.ts).
  const httpsIssuer = issuerIsHttps(config.issuer);
  const branded = brandedPages(config.branding);
  // The one outbound client: oidc-provider and the vault make every request of their own through
  // it. A refusal is logged with its host and address only (paths and queries may carry secrets).
  const outbound = createOutboundClient({
    allowPrivate: config.outboundAllowPrivate,
    onRefused: (refusal) =>
      logger.warn({ event: 'outbound.refused', ...refusal }, 'outbound request refused'),
  });

  const buildProvider = async () => {
    const provider = createAuthorizationProvider({
      config,
      store,
      keyring,
      ...services,
      jwks: await services.keys.privateJwks(),
      cookieKeys: new CookieKeys(cookies),
      outbound,
      loginChecks: options.accounts ? [hostSessionCheck(options.accounts)] : [],
    });
    subscribeProviderEvents(provider, logger);
    if (httpsIssuer) treatRequestsAsSecure(provider as unknown as Koa);
    return { provider, middleware: mount(provider as unknown as Koa) };
  };

  let current = await buildProvider();
  let keyFingerprint = await services.keys.fingerprint();

  const app = new Koa({ proxy: config.trustProxy });
  if (httpsIssuer) treatRequestsAsSecure(app);
  // Koa types keys as an array; its cookies take keygrip's shape, which CookieKeys has.
  app.keys = new CookieKeys(cookies) as unknown as string[];
  app.silent = true;
  app.on('error', (error: { code?: string; status?: number }) => {
    // Malformed HTTP from a client (llhttp's HPE_* codes, resets) is the client's problem, not ours.
    const clientFault = (error.status ?? 500) < 500 || /^(HPE_|ECONNRESET|EPIPE)/.test(error.code ?? '');
    if (clientFault) logger.debug({ err: error }, 'client error');
    else logger.error({ err: error }, 'unhandled error');
  });

  const throttle = new LoginThrottle(store.counters, options.throttle);
  const provider = () => current.provider;
  // Sign-in handed to a host app or to LOGIN_URL (and consent to CONSENT_URL), when set up.
  const handOff =
    options.accounts || config.loginUrl || config.consentUrl
      ? loginHandOff({
          provider,
          challenges: services.challenges,
          accounts: services.accounts,
          basePath,
          loginUrl: config.loginUrl,
          consentUrl: config.consentUrl,
          host: options.accounts,
        })
      : undefined;
  const interactions = interactionRoutes({ provider, ...services, throttle, handOff });
  // DPoP proofs seen by the server's own resource checks, in the store: refused at every instance.
  const replayStore = storeReplayStore(store.counters);
  const resources = resourceRoutes({
    provider,
    accounts: services.accounts,
    issuer: config.issuer,
    keys: services.keys,
    replayStore,
  });
  const account = accountRoutes({ provider, store, keyring, accounts: services.accounts, throttle });

  const metrics = createMetrics(config.metricsToken, { cluster: options.clusterMetrics ?? false });
  app.use(ownContext(app));
  if (basePath) app.use(underIssuerPath(basePath));
  app.use(requestContext(logger));
  if (httpsIssuer) app.use(warnOfPlainHttp(logger));
  // Under a mount path, pages put it in front of their own addresses (../web/views.ts).
  const viewGlobals = basePath
    ? { ...(branded.globals ?? DEFAULT_VIEW_GLOBALS), mountPath: basePath }
    : branded.globals;
  if (viewGlobals) app.use(useViewGlobals(viewGlobals));
  app.use(metrics.middleware);
  app.use(securityHeaders);
  app.use(notFoundPage);
  const vault = createVault({ store, keyring, issuer: config.issuer, logger, outbound }, options.vault);
  metrics.observeVault(vault.events);
  app.use(
    byPath([
      ['/healthz', health(store)],
      ['/metrics', metrics.endpoint],
      ['/assets/', branded.assets],
      ['/interaction/', interactions.routes()],
      ['/account', account.routes()],
      ['/v1/', resources.routes()],
      [
        '/vault/',
        vaultMiddleware(vault, { issuer: config.issuer, provider, keys: services.keys, replayStore }),
      ],
      [
        '/admin/',
        adminMiddleware({
          issuer: config.issuer,
          services,
          vault,
          provider,
          validateClient: (metadata) => provider().Client.validate(metadata as ClientMetadata),
          reloadKeys: () => reloadKeys(),
          replayStore,
        }),
      ],
      ['/.well-known/oauth-authorization-server', authorizationServerMetadata],
    ]),
  );
  app.use(async function providerEndpoints(ctx, next) {
    try {
      await current.middleware(ctx, next);
    } catch (error) {
      if (!answeredBeforeSessionPersistFailed(ctx, error)) throw error;
      // Save the new session as oidc-provider's session handler would, so that the form on the
      // error page (whose xsrf secret lives in that session) can be submitted.
      const { oidc } = ctx as unknown as KoaContextWithOIDC;
      const session = oidc.session as (NonNullable<typeof oidc.session> & { id: string }) | undefined;
      if (!session) return;
      oidc.cookies.set(current.provider.cookieName('session'), session.id, LONG_COOKIE_OPTIONS);
      await session.save(SESSION_TTL);
    }
  });

  const reloadKeys = async () => {
    const fingerprint = await services.keys.fingerprint();
    if (fingerprint === keyFingerprint) return false;
    current = await buildProvider();
    keyFingerprint = fingerprint;
    logger.info({ event: 'keys.reloaded' }, 'signing keys changed; provider reloaded');
    return true;
  };

  // Every second one small read of the key list, so that a rotation anywhere reaches this process
  // within about a second; the provider is rebuilt only when the list changed. A check that is
  // still running (a slow store) is not started a second time.
  const interval = options.keyReloadIntervalMs ?? 1000;
  let checking = false;
  const timer =
    interval > 0
      ? setInterval(() => {
          if (checking) return;
          checking = true;
          reloadKeys()
            .catch((error: unknown) => logger.error({ err: error }, 'key reload failed'))
            .finally(() => (checking = false));
        }, interval)
      : undefined;
  timer?.unref();

  return {
    app,
    config,
    store,
    keyring,
    services,
    vault,
    provider: () => current.provider,
    reloadKeys,
    async close() {
      if (timer) clearInterval(timer);
      await vault.close();
      await outbound.close();
      await store.close();
    },
  };
}
