// The reference: a bare oidc-provider with its default in-memory adapter, static clients and the
// same protocol configuration Latchkey gives the scenarios (client credentials, introspection,
// resource indicators with the same APIs and signing algorithms, refresh token rotation rule,
// token lifetimes). What it leaves out is what Latchkey adds: the SQLite store, hashing and
// sealing of records, the client registry, argon2 logins, pages, the Koa host and its middleware.
// Its interactions finish at once (no pages): it is only driven to mint tokens.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import {
  API_SCOPE,
  API_TTL_SECONDS,
  BENCH_CALLBACK,
  BENCH_EMAIL,
  BENCH_PASSWORD,
  USERS_API_SCOPE,
  benchApis,
  type BenchFixtures,
} from './fixtures.js';
import { closeServer, listenOnLoopback } from './loopback.js';

const ACCOUNT_ID = 'bench-account';
const ACCESS_TOKEN_TTL = 3600;
const REFRESH_TOKEN_TTL = 14 * 24 * 3600;

export interface ReferenceBenchServer {
  url: string;
  fixtures: BenchFixtures;
  close(): Promise<void>;
}

async function signingKeys(): Promise<JWK[]> {
  const keys: JWK[] = [];
  for (const alg of ['RS256', 'ES256'] as const) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
    keys.push({ ...(await exportJWK(privateKey)), kid: `${alg.toLowerCase()}-bench`, alg, use: 'sig' });
  }
  return keys;
}

function configuration(fixtures: BenchFixtures, keys: JWK[]): Configuration {
  const apis = new Map<string, { scope: string; format: 'jwt' | 'opaque'; alg?: 'RS256' | 'ES256' }>([
    [fixtures.apis.opaque, { scope: API_SCOPE, format: 'opaque' }],
    [fixtures.apis.rs256, { scope: API_SCOPE, format: 'jwt', alg: 'RS256' }],
    [fixtures.apis.es256, { scope: API_SCOPE, format: 'jwt', alg: 'ES256' }],
    [fixtures.apis.users, { scope: USERS_API_SCOPE, format: 'jwt', alg: 'RS256' }],
  ]);
  return {
    clients: [
      {
        client_id: fixtures.web.clientId,
        client_secret: fixtures.web.clientSecret,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [fixtures.web.redirectUri],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: fixtures.service.clientId,
        client_secret: fixtures.service.clientSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys } as Configuration['jwks'],
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], profile: ['name', 'updated_at'], email: ['email', 'email_verified'] },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    responseTypes: ['code'],
    async findAccount(_ctx, sub) {
      if (sub !== ACCOUNT_ID) return undefined;
      return {
        accountId: ACCOUNT_ID,
        claims: async () => ({ sub, email: BENCH_EMAIL, email_verified: true, name: 'Bench User' }),
      };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Latchkey's rule: a confidential client's refresh token rotates after 70% of its life.
    rotateRefreshToken(ctx) {
      const { RefreshToken: refreshToken, Client: client } = ctx.oidc.entities;
      if (client?.clientAuthMethod === 'none') return true;
      return (refreshToken?.ttlPercentagePassed() ?? 0) >= 70;
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TOKEN_TTL,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Grant: REFRESH_TOKEN_TTL,
      Session: 14 * 24 * 3600,
      RefreshToken: REFRESH_TOKEN_TTL,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: async () => false,
        async getResourceServerInfo(_ctx, resourceIndicator) {
          const api = apis.get(resourceIndicator);
          if (!api) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          return {
            scope: api.scope,
            audience: resourceIndicator,
            accessTokenTTL: API_TTL_SECONDS,
            accessTokenFormat: api.format,
            ...(api.alg ? { jwt: { sign: { alg: api.alg } } } : {}),
          };
        },
      },
    },
  };
}

/** Signs in and consents at once: what the login and consent pages decide in Latchkey. */
function autoInteractions(provider: Provider) {
  return async function autoInteractions(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    if (!/^\/interaction\/[^/]+$/.test(ctx.path)) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name === 'login') {
      await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: ACCOUNT_ID } });
    } else {
      const grant = details.grantId
        ? (await provider.Grant.find(details.grantId))!
        : new provider.Grant({ accountId: ACCOUNT_ID, clientId: String(details.params.client_id) });
      const missing = details.prompt.details as {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(resource, scopes.join(' '));
      }
      await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId: await grant.save() } });
    }
    ctx.respond = false;
  };
}

export async function startReferenceBench(): Promise<ReferenceBenchServer> {
  const server = createServer();
  const url = await listenOnLoopback(server);
  const secret = () => randomBytes(32).toString('base64url');
  const fixtures: BenchFixtures = {
    url,
    email: BENCH_EMAIL,
    password: BENCH_PASSWORD,
    web: { clientId: 'bench-web', clientSecret: secret(), redirectUri: BENCH_CALLBACK },
    service: { clientId: 'bench-service', clientSecret: secret() },
    apis: benchApis(url),
  };
  const provider = new Provider(url, configuration(fixtures, await signingKeys()));
  provider.use(autoInteractions(provider));
  server.on('request', provider.callback());
  return {
    url,
    fixtures,
    async close() {
      await closeServer(server);
    },
  };
}
