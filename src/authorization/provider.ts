// AuthorizationProvider: the oidc-provider configuration. Everything protocol-shaped is the
// library's; this file only says which features are on and where our data comes from.
import Provider, { errors, interactionPolicy, type Configuration } from 'oidc-provider';
import type { Config } from '../config/index.js';
import { createAdapterFactory } from '../store/oidc-adapter.js';
import type { Keyring } from '../store/encryption.js';
import type { Store } from '../store/types.js';
import { protocolErrorPage } from '../web/error-pages.js';
import { renderView } from '../web/views.js';
import { claimsForScope, SCOPE_CLAIMS, type AccountService } from './accounts.js';
import type { ApiService } from './apis.js';
import type { ClientGrantService } from './client-grants.js';
import type { ClientService } from './clients.js';
import { renderDeviceInput } from './device-pages.js';
import { loadExistingGrant } from './existing-grant.js';
import { createResourcePolicy, nameRefusedScope } from './resource-policy.js';
import { OIDC_SCOPES } from './scopes.js';
import type { CookieKeys } from '../web/cookie-keys.js';
import { createOutboundClient, type OutboundClient } from '../web/outbound.js';

export interface ProviderDependencies {
  config: Config;
  store: Store;
  keyring: Keyring;
  accounts: AccountService;
  clients: ClientService;
  apis: ApiService;
  grants: ClientGrantService;
  jwks: { keys: unknown[] };
  cookieKeys: CookieKeys;
  /** The process's outbound client; default one from the configuration (the CLI). */
  outbound?: OutboundClient;
  /** Checks added to the login prompt (embedded in a host app: its session, ./login-handoff.ts). */
  loginChecks?: interactionPolicy.Check[];
}

/** oidc-provider's `fetch` option on the outbound client, without the library's own dispatcher. */
function outboundFetch(outbound: OutboundClient) {
  return (url: string | URL | Request, options?: RequestInit) => {
    const { dispatcher: _dispatcher, ...rest } = (options ?? {}) as RequestInit & { dispatcher?: unknown };
    return outbound.fetch(url, rest);
  };
}

/** Plain-words explanation of each scope, for the consent page. */
export const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: 'Sign you in with your account',
  profile: 'See your name',
  email: 'See your email address',
  offline_access: 'Stay connected when you are not using the app',
};

/** Browser sessions at Latchkey last 14 days. */
export const SESSION_TTL = 14 * 24 * 3600;
export const LONG_COOKIE_OPTIONS = { signed: true, httpOnly: true, sameSite: 'lax' } as const;

const isPublic = (client: { clientAuthMethod?: string } | undefined) => client?.clientAuthMethod === 'none';

/** A client's own token lifetime (`clients update --access-token-ttl`), if it has one. */
function clientTtl(
  client: { metadata(): Record<string, unknown> } | undefined,
  field: string,
): number | undefined {
  const value = client?.metadata()[field];
  return typeof value === 'number' ? value : undefined;
}

/**
 * A client's own access-token lifetime (`clients update --access-token-ttl`) replaces the server's
 * default, and shortens (never lengthens) the lifetime of an API's tokens (`apis add --ttl`): the
 * API's owner sets the upper bound.
 */
function accessTokenTtl(
  apiTtl: number | undefined,
  client: { metadata(): Record<string, unknown> } | undefined,
  serverTtl: number,
): number {
  const own = clientTtl(client, 'access_token_ttl');
  if (apiTtl === undefined) return own ?? serverTtl;
  return own === undefined ? apiTtl : Math.min(apiTtl, own);
}

function audiencesOf(token: { aud?: string | string[] | undefined }): string[] {
  if (!token.aud) return [];
  return Array.isArray(token.aud) ? token.aud : [token.aud];
}

export function buildProviderConfiguration(deps: ProviderDependencies): Configuration {
  const { config, store, keyring, accounts, clients, apis, grants } = deps;
  const resourcePolicy = createResourcePolicy({ apis, grants });

  return {
    adapter: createAdapterFactory(store, keyring, (id) =>
      clients.lookup(id),
    ) as unknown as Configuration['adapter'],
    clients: [],
    jwks: deps.jwks as Configuration['jwks'],
    cookies: {
      // oidc-provider takes a keygrip-shaped object where its types say array.
      keys: deps.cookieKeys as unknown as string[],
      long: { ...LONG_COOKIE_OPTIONS },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
      names: { session: 'latchkey.session', interaction: 'latchkey.interaction', resume: 'latchkey.resume' },
    },
    claims: Object.fromEntries(Object.entries(SCOPE_CLAIMS).map(([scope, claims]) => [scope, [...claims]])),
    // The ID token carries the claims its scopes release, as userinfo does (OIDC Core §5.4 allows
    // both); oidc-provider's default puts them in userinfo only whenever an access token is issued.
    conformIdTokenClaims: false,
    scopes: [...OIDC_SCOPES],
    responseTypes: ['code'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'RS256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    extraClientMetadata: {
      properties: ['first_party', 'resource_servers', 'access_token_ttl', 'refresh_token_ttl'],
      validator(_ctx, key, value) {
        if ((key === 'access_token_ttl' || key === 'refresh_token_ttl') && value !== undefined) {
          if (!Number.isInteger(value) || (value as number) < 10)
            throw new errors.InvalidClientMetadata(`${key} must be a whole number of seconds`);
        }
        if (key === 'first_party' && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata('first_party must be a boolean');
        }
        if (key === 'resource_servers' && value !== undefined) {
          if (!Array.isArray(value) || value.some((entry) => typeof entry !== 'string')) {
            throw new errors.InvalidClientMetadata('resource_servers must be an array of API identifiers');
          }
        }
      },
    },
    loadExistingGrant: loadExistingGrant(store, keyring) as Configuration['loadExistingGrant'],
    async findAccount(_ctx, sub) {
      const account = await accounts.getActive(sub);
      if (!account) return undefined;
      return {
        accountId: account.id,
        claims: async (_use: string, scope: string) => claimsForScope(account, scope),
      };
    },
    interactions: {
      // Under the issuer's path, where a host app mounts Latchkey (the interaction cookie's path too).
      url: (_ctx, interaction) =>
        `${new URL(config.issuer).pathname.replace(/\/$/, '')}/interaction/${interaction.uid}`,
      ...(deps.loginChecks?.length ? { policy: loginPolicy(deps.loginChecks) } : {}),
    },
    // RFC 9700 §2.1.1: PKCE for every public client; S256 is the only method oidc-provider v9 offers.
    pkce: {
      required: (_ctx, client) => config.pkceRequiredForAll || isPublic(client),
    },
    // RFC 9700 §4.14.2: public clients get a new refresh token on every use, and oidc-provider
    // revokes the whole grant when a rotated one comes back.
    rotateRefreshToken(ctx) {
      const { RefreshToken: refreshToken, Client: client } = ctx.oidc.entities;
      if (isPublic(client)) return true;
      return (refreshToken?.ttlPercentagePassed() ?? 0) >= 70;
    },
    ttl: {
      AccessToken(_ctx, token, client) {
        return accessTokenTtl(token.resourceServer?.accessTokenTTL, client, config.accessTokenTtl);
      },
      ClientCredentials(_ctx, token, client) {
        return accessTokenTtl(token.resourceServer?.accessTokenTTL, client, config.accessTokenTtl);
      },
      AuthorizationCode: 60,
      DeviceCode: 600,
      IdToken: 3600,
      Interaction: 3600,
      Grant: config.refreshTokenTtl,
      Session: SESSION_TTL,
      RefreshToken(ctx, token, client) {
        // RFC 9700 §4.14.2: rotation must not extend a public client's grant: a rotated token
        // lives only as long as the one it replaces (unless sender-constrained).
        const rotated = ctx?.oidc?.entities.RotatedRefreshToken;
        if (rotated && isPublic(client) && !token.isSenderConstrained()) return rotated.remainingTTL;
        return clientTtl(client, 'refresh_token_ttl') ?? config.refreshTokenTtl;
      },
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
      dPoP: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      introspection: {
        enabled: true,
        // RFC 7662 §4: a client may learn only about its own tokens, or about tokens issued
        // for an API it is the registered resource server of.
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId === client.clientId) return true;
          const servers = (client.metadata() as { resource_servers?: string[] }).resource_servers ?? [];
          return audiencesOf(token as { aud?: string | string[] }).some((aud) => servers.includes(aud));
        },
      },
      revocation: {
        enabled: true,
        // RFC 7009 §2.1: the server checks that the token was issued to the requesting client.
        async allowedPolicy(_ctx, client, token) {
          return token.clientId === client.clientId;
        },
      },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        // Our own form, not the library's (`_form`): see ./device-pages.ts.
        async userCodeInputSource(ctx, _form, _out, error) {
          await renderDeviceInput(ctx, error);
        },
        async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
          ctx.type = 'html';
          ctx.body = renderView('device-confirm', {
            title: 'Confirm the device',
            formHtml: form,
            clientName: client.clientName ?? client.clientId,
            userCode,
          });
        },
        async successSource(ctx) {
          ctx.type = 'html';
          ctx.body = renderView('device-success', {
            title: 'Device connected',
            clientName: ctx.oidc.client?.clientName,
          });
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = renderView('logout', {
            title: 'Sign out',
            formHtml: form,
            clientName: ctx.oidc.client?.clientName,
          });
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = renderView('logout-success', {
            title: 'Signed out',
            clientName: ctx.oidc.client?.clientName,
          });
        },
      },
      resourceIndicators: {
        enabled: true,
        // Client grants and user consent decide (./resource-policy.ts).
        defaultResource: resourcePolicy.defaultResource as never,
        useGrantedResource: async () => false,
        getResourceServerInfo: resourcePolicy.getResourceServerInfo as never,
      },
    },
    // oidc-provider's own requests (back-channel logout, client JWKS, sector identifiers, client
    // metadata documents) go through Latchkey's one outbound client, whose dispatcher refuses
    // special-use addresses unless OUTBOUND_ALLOW_PRIVATE; the library's dispatcher is set aside.
    fetch: outboundFetch(
      deps.outbound ?? createOutboundClient({ allowPrivate: config.outboundAllowPrivate }),
    ),
    async renderError(ctx, out, error) {
      ctx.type = 'html';
      const client = ctx.oidc?.client;
      ctx.body = renderView(
        'error',
        protocolErrorPage({
          error: out.error,
          errorDescription: out.error_description,
          name: error.name,
          status: ctx.status,
          requestId: ctx.state.requestId as string | undefined,
          client: client && { name: client.clientName, uri: client.clientUri },
        }),
      );
    },
  };
}

/** oidc-provider's prompts, with more checks that may ask for the login prompt. */
function loginPolicy(checks: interactionPolicy.Check[]) {
  const policy = interactionPolicy.base();
  for (const check of checks) policy.get('login')!.checks.add(check);
  return policy;
}

export function createAuthorizationProvider(deps: ProviderDependencies): Provider {
  const provider = new Provider(deps.config.issuer, buildProviderConfiguration(deps));
  provider.proxy = deps.config.trustProxy;
  provider.on('grant.error', nameRefusedScope);
  return provider;
}
