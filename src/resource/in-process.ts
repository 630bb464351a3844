// Latchkey's own opaque tokens, looked up in-process through the current oidc-provider instead of
// over HTTP. The checks mirror what oidc-provider's own introspection and userinfo endpoints do
// before they call a token active. Server code, not part of `@latchkey/resource`: it needs
// oidc-provider.
import {
  invalidToken,
  ResourceProvider,
  type AuthenticateOptions,
  type DpopReplayStore,
  type IntrospectionResponse,
  type OpaqueTokenChecker,
  type ResourceAuthorization,
  type ResourceProviderOptions,
  type ResourceRequest,
} from '@latchkey/resource';
import type Provider from 'oidc-provider';
import type { CounterStore } from '../store/types.js';

const INACTIVE: IntrospectionResponse = Object.freeze({ active: false });

type StoredAccessToken = InstanceType<Provider['AccessToken']>;
type StoredClientCredentials = InstanceType<Provider['ClientCredentials']>;

/** The provider's AccessToken or ClientCredentials, whichever the value is. */
async function findAccessToken(
  provider: Provider,
  token: string,
): Promise<StoredAccessToken | StoredClientCredentials | undefined> {
  return (await provider.AccessToken.find(token)) ?? (await provider.ClientCredentials.find(token));
}

/** oidc-provider's introspection: the grant behind a token must still exist and still match it. */
async function grantStillValid(provider: Provider, token: StoredAccessToken): Promise<boolean> {
  if (!token.grantId) return true;
  const grant = await provider.Grant.find(token.grantId, { ignoreExpiration: true });
  return (
    !!grant && !grant.isExpired && grant.clientId === token.clientId && grant.accountId === token.accountId
  );
}

/** `provider` is called per token, so that a provider swapped on key reload is the one asked. */
export function inProcessTokenChecker(provider: () => Provider): OpaqueTokenChecker {
  return {
    async introspect(value: string): Promise<IntrospectionResponse> {
      const current = provider();
      const token = await findAccessToken(current, value);
      // find() already drops expired tokens and, for session-bound ones, tokens of ended sessions.
      if (!token?.isValid) return INACTIVE;
      if (token.kind === 'AccessToken' && !(await grantStillValid(current, token as StoredAccessToken)))
        return INACTIVE;
      // A removed client's tokens stop working (oidc-provider's loadAccessTokenClient).
      if (!token.clientId || !(await current.Client.find(token.clientId))) return INACTIVE;
      const accountId = token.kind === 'AccessToken' ? (token as StoredAccessToken).accountId : undefined;
      return {
        active: true,
        client_id: token.clientId,
        ...(accountId ? { sub: accountId } : {}),
        ...(token.scope ? { scope: token.scope } : {}),
        ...(token.aud === undefined ? {} : { aud: token.aud }),
        exp: token.exp,
        iat: token.iat,
        iss: current.issuer,
        token_type: token.jkt ? 'DPoP' : 'Bearer',
        ...(token.jkt ? { cnf: { jkt: token.jkt } } : {}),
      };
    },
  };
}

/** The issuer's signing keys as the key service holds them. */
export interface PublishedKeys {
  list(): Promise<Array<{ publicJwk: Record<string, unknown> }>>;
}

/**
 * A fetch that answers the JWKS URL from the key service, so the server does not call its own
 * public URL (which a TLS proxy or NAT may not route back). jose still does the caching and the
 * cooldown-limited refetch on an unknown kid.
 */
export function inProcessJwksFetch(keys: PublishedKeys, jwksUri: string): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url !== jwksUri) return fetch(input, init);
    return Response.json({ keys: (await keys.list()).map((key) => key.publicJwk) });
  };
}

/**
 * The DPoP replay store of the server's own resource checks (/v1, /vault, /admin): the ids of
 * accepted proofs in the store's counters, so that a proof used at one instance is refused at every
 * other (RFC 9449 §11.1). The first hit on a key within its window is the only one that finds it absent.
 */
export function storeReplayStore(counters: CounterStore): DpopReplayStore {
  return {
    async insertIfAbsent(key, expiresAt) {
      const now = Date.now();
      const { count } = await counters.hit(`dpop:${key}`, Math.max(1, expiresAt - now), now);
      return count === 1;
    },
  };
}

/**
 * The checker of the server's own APIs (/v1, /vault, /admin). Their tokens are mostly JWTs, checked
 * locally, which would outlive the removal of their client; here a token whose client is gone is
 * refused at once (within the client cache's 0.5 s), as oidc-provider refuses a removed client's
 * opaque tokens, so that `clients remove` cuts a client off every built-in API.
 */
export class OwnApiResourceProvider extends ResourceProvider {
  readonly #provider: () => Provider;

  constructor(options: ResourceProviderOptions, provider: () => Provider) {
    super(options);
    this.#provider = provider;
  }

  override async authenticate(
    request: ResourceRequest,
    options?: AuthenticateOptions,
  ): Promise<ResourceAuthorization> {
    const auth = await super.authenticate(request, options);
    if (!(await this.#provider().Client.find(auth.clientId)))
      throw invalidToken('The access token’s client is no longer registered.', { scheme: auth.tokenType });
    return auth;
  }
}
