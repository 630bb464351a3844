// Client grants: an admin's say-so that one client may get tokens for one API, and with which of
// its scopes (Auth0's client grants; Hydra's per-client audience and scope allow-lists). It is
// the one model of authorization: operators' APIs and the built-in ones (/vault, /admin) alike.
import type { ApiRecord, ClientGrantRecord, Store } from '../store/types.js';
import type { ApiService } from './apis.js';
import { NotFoundError } from './errors.js';
import { invalidScopeToken, splitScopes } from './scopes.js';
import { ShortCache } from './short-cache.js';

export class GrantInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GrantInputError';
  }
}

/** The grant as an admin sees it. */
export interface ClientGrantView {
  client_id: string;
  api: string;
  scope: string;
  created_at: string;
  updated_at: string;
}

export function grantView(grant: ClientGrantRecord): ClientGrantView {
  return {
    client_id: grant.clientId,
    api: grant.api,
    scope: grant.scopes.join(' '),
    created_at: new Date(grant.createdAt).toISOString(),
    updated_at: new Date(grant.updatedAt).toISOString(),
  };
}

/** A flow in which a user takes part (and may consent) or one in which the client acts alone. */
export type GrantFlow = 'user' | 'client';

export class ClientGrantService {
  readonly #store: Store;
  readonly #apis: ApiService;
  readonly #cache = new ShortCache<readonly string[]>();

  constructor(store: Store, apis: ApiService) {
    this.#store = store;
    this.#apis = apis;
  }

  /**
   * Sets the scopes `clientId` may get for `api` (replacing any earlier grant for that API).
   * Every scope must be one of the API's; the error names the first that is not.
   */
  async grant(
    clientId: string,
    apiIdentifier: string,
    scope: string | readonly string[],
  ): Promise<ClientGrantRecord> {
    const scopes = splitScopes(scope);
    if (scopes.length === 0) throw new GrantInputError('a grant needs at least one scope');
    const badToken = invalidScopeToken(scopes);
    if (badToken !== undefined) throw new GrantInputError(`invalid scope ${JSON.stringify(badToken)}`);
    if (!(await this.#store.clients.get(clientId))) throw new NotFoundError('client', clientId);
    const api = await this.#apis.show(apiIdentifier);
    if (!api) throw new NotFoundError('API', apiIdentifier);
    const known = new Set(api.scope.split(' '));
    const unknown = scopes.find((name) => !known.has(name));
    if (unknown !== undefined)
      throw new GrantInputError(`scope ${unknown} is not a scope of ${apiIdentifier} (it has: ${api.scope})`);
    const now = Date.now();
    const existing = await this.#store.clientGrants.get(clientId, apiIdentifier);
    const record: ClientGrantRecord = {
      clientId,
      api: apiIdentifier,
      scopes,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    await this.#store.clientGrants.put(record);
    this.#cache.delete(cacheKey(clientId, apiIdentifier));
    return record;
  }

  /** Takes the client's grant for the API away; false when it held none. */
  async ungrant(clientId: string, apiIdentifier: string): Promise<boolean> {
    this.#cache.delete(cacheKey(clientId, apiIdentifier));
    return this.#store.clientGrants.remove(clientId, apiIdentifier);
  }

  list(clientId: string): Promise<ClientGrantRecord[]> {
    return this.#store.clientGrants.listByClient(clientId);
  }

  listByApi(apiIdentifier: string): Promise<ClientGrantRecord[]> {
    return this.#store.clientGrants.listByApi(apiIdentifier);
  }

  /** The scopes of the admin's grant, cached briefly (on every token request with a resource). */
  granted(clientId: string, apiIdentifier: string): Promise<readonly string[]> {
    return this.#cache.get(cacheKey(clientId, apiIdentifier), async () => {
      const grant = await this.#store.clientGrants.get(clientId, apiIdentifier);
      return grant?.scopes ?? [];
    });
  }

  /**
   * What the client may get for the API in this kind of flow: its grant's scopes, and in a flow
   * where a user consents, also the scopes the API opens to user consent. Empty = nothing.
   */
  async allowedScopes(clientId: string, api: ApiRecord, flow: GrantFlow): Promise<string[]> {
    const granted = await this.granted(clientId, api.identifier);
    const open = flow === 'user' ? (api.userConsentScopes ?? []) : [];
    const allowed = new Set([...granted, ...open]);
    // Keep the API's own order, and nothing the API no longer has.
    return api.scope.split(' ').filter((scope) => allowed.has(scope));
  }
}

function cacheKey(clientId: string, apiIdentifier: string): string {
  return `${clientId} ${apiIdentifier}`;
}
