// Gets a bench server ready for a scenario through its public endpoints, as a real client would:
// discovery once, then right before each scenario the tokens it needs (a client credentials token
// to introspect, browser flows for refresh tokens and user access tokens). Tokens are minted per
// scenario because the reference's in-memory adapter keeps only the 1,000 most recent records:
// the previous scenario's load would have pushed older tokens out.
import { BenchChild } from './child-process.js';
import type { BenchFixtures } from './fixtures.js';
import { codeFlow, discover, httpRequest, tokenRequest, type Endpoints } from './http-client.js';

export const USERS_ME_PATH = '/v1/users/me';
const USER_SCOPE = 'openid profile email offline_access';

export interface PreparedTarget {
  url: string;
  fixtures: BenchFixtures;
  endpoints: Endpoints;
  /** Whether the server answers `/v1/users/me` (404 without a token means no such route). */
  usersMeMounted: boolean;
}

export type TokenNeed = 'clientCredentials' | 'refresh' | 'userOpaque' | 'userJwt';

export interface TargetTokens {
  /** Opaque, for the service's own API: what introspection looks up. */
  clientCredentialsToken?: string;
  /** A confidential client's refresh tokens: not rotated before 70% of their life, so reusable. */
  refreshTokens?: string[];
  /** Opaque, without audience (for the issuer's own user APIs). */
  userOpaqueToken?: string;
  /** JWT for the resource API. */
  userJwtToken?: string;
}

export async function prepareTarget(fixtures: BenchFixtures, probeUsersMe: boolean): Promise<PreparedTarget> {
  return {
    url: fixtures.url,
    fixtures,
    endpoints: await discover(fixtures.url),
    usersMeMounted: probeUsersMe && (await httpRequest(`${fixtures.url}${USERS_ME_PATH}`)).status !== 404,
  };
}

/** A bench server child and the target it serves. */
export interface Server {
  child: BenchChild;
  target: PreparedTarget;
}

/** Starts a bench server child (./server.ts) and prepares its target; stops it again if that fails. */
export async function startServer(
  spec: Parameters<typeof BenchChild.start>[0],
  probeUsersMe: boolean,
): Promise<Server> {
  const child = await BenchChild.start(spec);
  try {
    return { child, target: await prepareTarget(child.seededFixtures, probeUsersMe) };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** Mints what a scenario needs; `refreshTokens` is the size of the refresh token pool. */
export async function mintTokens(
  target: PreparedTarget,
  needs: readonly TokenNeed[],
  options: { refreshTokens: number },
): Promise<TargetTokens> {
  const { endpoints, fixtures } = target;
  const tokens: TargetTokens = {};
  if (needs.includes('clientCredentials')) {
    tokens.clientCredentialsToken = (
      await tokenRequest(endpoints, fixtures.service, {
        grant_type: 'client_credentials',
        resource: fixtures.apis.opaque,
        scope: 'read',
      })
    ).access_token;
  }
  if (needs.includes('refresh')) {
    tokens.refreshTokens = [];
    for (let index = 0; index < Math.max(1, options.refreshTokens); index++) {
      const response = await codeFlow(endpoints, fixtures, { scope: USER_SCOPE });
      if (!response.refresh_token) throw new Error('the code flow returned no refresh token');
      tokens.refreshTokens.push(response.refresh_token);
    }
  }
  if (needs.includes('userOpaque')) {
    tokens.userOpaqueToken = (await codeFlow(endpoints, fixtures, { scope: USER_SCOPE })).access_token;
  }
  if (needs.includes('userJwt')) {
    tokens.userJwtToken = (
      await codeFlow(endpoints, fixtures, { scope: 'openid profile email', resource: fixtures.apis.users })
    ).access_token;
  }
  return tokens;
}
