// The HTTP scenarios of the bench (issue #6), as data: which request each sends to Latchkey and to
// the reference, and what a correct answer looks like (checked once before the load, so that a
// misconfigured scenario reports its error instead of measuring error pages).
import { decodeProtectedHeader } from 'jose';
import { basicAuthorization, FORM, httpRequest, type HttpResponse } from './http-client.js';
import type { LoadRequest } from './load.js';
import {
  mintTokens,
  USERS_ME_PATH,
  type PreparedTarget,
  type TargetTokens,
  type TokenNeed,
} from './targets.js';

export type Side = 'ours' | 'reference';

export interface HttpScenario {
  id: string;
  /**
   * The numbering: 1 client credentials, 2 refresh, 3 introspection, 4 /v1/users/me; 0 for
   * the baseline, which has no target (it tells the host's own cost apart from the store's).
   */
  group: number;
  title: string;
  /** Why the scenario cannot run on this side, if it cannot. */
  unavailable?(target: PreparedTarget, side: Side): string | undefined;
  /** Tokens to mint on one side before the scenario. */
  needs(side: Side): readonly TokenNeed[];
  /** The request for one side. */
  request(target: PreparedTarget, side: Side, tokens: TargetTokens): LoadRequest;
  /** What the reference runs, when not the same thing. */
  referenceNote?: string;
  /** A problem with a 2xx answer, or undefined when it is what the scenario expects. */
  check(response: HttpResponse): string | undefined;
}

const pathOf = (endpoint: string) => new URL(endpoint).pathname;

function clientCredentials(id: string, title: string, api: 'opaque' | 'rs256' | 'es256'): HttpScenario {
  const expectedAlg = api === 'opaque' ? undefined : api.toUpperCase();
  return {
    id,
    group: 1,
    title,
    needs: () => [],
    request: (target) => ({
      method: 'POST',
      path: pathOf(target.endpoints.token),
      headers: {
        authorization: basicAuthorization(
          target.fixtures.service.clientId,
          target.fixtures.service.clientSecret,
        ),
        'content-type': FORM,
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        resource: target.fixtures.apis[api],
        scope: 'read',
      }).toString(),
    }),
    check(response) {
      const token = (JSON.parse(response.text) as { access_token?: string }).access_token ?? '';
      if (!expectedAlg)
        return token && !token.includes('.') ? undefined : `expected an opaque token: ${token}`;
      const alg = token.split('.').length === 3 ? decodeProtectedHeader(token).alg : undefined;
      return alg === expectedAlg ? undefined : `expected a ${expectedAlg} JWT, got ${alg ?? token}`;
    },
  };
}

const refresh: HttpScenario = {
  id: 'refresh',
  group: 2,
  title: 'refresh_token grant (openid: new access + ID token)',
  needs: () => ['refresh'],
  request: (target, _side, tokens) => ({
    method: 'POST',
    path: pathOf(target.endpoints.token),
    headers: {
      authorization: basicAuthorization(target.fixtures.web.clientId, target.fixtures.web.clientSecret),
      'content-type': FORM,
    },
    bodies: (tokens.refreshTokens ?? []).map((token) =>
      new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString(),
    ),
  }),
  check: (response) =>
    (JSON.parse(response.text) as { access_token?: string }).access_token ? undefined : 'no access_token',
};

const introspection: HttpScenario = {
  id: 'introspect',
  group: 3,
  title: 'token introspection (opaque client credentials token)',
  needs: () => ['clientCredentials'],
  request: (target, _side, tokens) => ({
    method: 'POST',
    path: pathOf(target.endpoints.introspection),
    headers: {
      authorization: basicAuthorization(
        target.fixtures.service.clientId,
        target.fixtures.service.clientSecret,
      ),
      'content-type': FORM,
    },
    body: new URLSearchParams({
      token: tokens.clientCredentialsToken ?? '',
      token_type_hint: 'access_token',
    }).toString(),
  }),
  check: (response) =>
    (JSON.parse(response.text) as { active?: boolean }).active ? undefined : 'not active',
};

function usersMe(id: string, format: 'jwt' | 'opaque'): HttpScenario {
  return {
    id,
    group: 4,
    title: `GET ${USERS_ME_PATH} with ${format === 'jwt' ? 'a JWT' : 'an opaque'} access token`,
    referenceNote: 'reference: its userinfo endpoint with an opaque token',
    unavailable: (target, side) =>
      side === 'ours' && !target.usersMeMounted ? `skipped: ${USERS_ME_PATH} not mounted` : undefined,
    needs: (side) => (side === 'reference' || format === 'opaque' ? ['userOpaque'] : ['userJwt']),
    request(target, side, tokens) {
      // The reference has no resource API; its own "who is this token's user" is userinfo.
      if (side === 'reference') {
        return {
          method: 'GET',
          path: pathOf(target.endpoints.userinfo),
          headers: { authorization: `Bearer ${tokens.userOpaqueToken}` },
        };
      }
      const token = format === 'jwt' ? tokens.userJwtToken : tokens.userOpaqueToken;
      return { method: 'GET', path: USERS_ME_PATH, headers: { authorization: `Bearer ${token}` } };
    },
    check: (response) => ((JSON.parse(response.text) as { sub?: string }).sub ? undefined : 'no sub'),
  };
}

/** No store, no signature, no client: what hosting oidc-provider in Latchkey's Koa app costs. */
const jwks: HttpScenario = {
  id: 'jwks',
  group: 0,
  title: 'baseline: GET jwks_uri (no store, no signing)',
  needs: () => [],
  request: (target) => ({ method: 'GET', path: pathOf(target.endpoints.jwks), headers: {} }),
  check: (response) =>
    (JSON.parse(response.text) as { keys?: unknown[] }).keys?.length ? undefined : 'no keys',
};

export const HTTP_SCENARIOS: readonly HttpScenario[] = [
  jwks,
  clientCredentials('cc-opaque', 'client_credentials, opaque token', 'opaque'),
  clientCredentials('cc-rs256', 'client_credentials, JWT RS256', 'rs256'),
  clientCredentials('cc-es256', 'client_credentials, JWT ES256', 'es256'),
  refresh,
  introspection,
  usersMe('me-jwt', 'jwt'),
  usersMe('me-opaque', 'opaque'),
];

/** The scenarios re-run at several store sizes (issue #6, 7: (1), (3) and (4)). */
export const GROWTH_SCENARIO_IDS = ['cc-opaque', 'introspect', 'me-jwt', 'me-opaque'] as const;

/**
 * The scenarios run on Latchkey as deployed, on each store, with one and two processes (issue #17:
 * client credentials opaque and JWT, refresh, introspection, /v1/users/me); with --quick the first.
 */
export const DEPLOYED_SCENARIO_IDS = ['cc-opaque', 'cc-rs256', 'refresh', 'introspect', 'me-opaque'] as const;

/**
 * Mints the scenario's tokens on every target and checks one request on each: the requests to
 * load them with, or the reason one of them cannot run the scenario.
 */
export async function requestsFor(
  scenario: HttpScenario,
  targets: { target: PreparedTarget; side: Side; label: string }[],
  refreshTokens: number,
): Promise<LoadRequest[] | string> {
  const requests: LoadRequest[] = [];
  for (const { target, side, label } of targets) {
    const unavailable = scenario.unavailable?.(target, side);
    if (unavailable) return unavailable;
    const tokens = await mintTokens(target, scenario.needs(side), { refreshTokens });
    const request = scenario.request(target, side, tokens);
    const problem = await checkOnce(target.url, request, scenario.check);
    if (problem) return `error (${label}): ${problem}`;
    requests.push(request);
  }
  return requests;
}

/** Sends the scenario's request once; returns what is wrong with the answer, or undefined. */
export async function checkOnce(
  url: string,
  request: LoadRequest,
  check: HttpScenario['check'],
): Promise<string | undefined> {
  const response = await httpRequest(`${url}${request.path}`, {
    method: request.method,
    headers: request.headers,
    ...((request.body ?? request.bodies?.[0]) !== undefined
      ? { body: request.body ?? request.bodies![0]! }
      : {}),
  });
  if (response.status < 200 || response.status >= 300) {
    return `${response.status} ${response.text.replace(/\s+/g, ' ').slice(0, 160)}`;
  }
  try {
    return check(response);
  } catch (error) {
    return `unexpected answer (${(error as Error).message}): ${response.text.slice(0, 160)}`;
  }
}
