// Registered APIs (resource servers): what `resource` values clients may ask tokens for (RFC 8707),
// with their scopes, the words the consent page shows for each, and which scopes a user's consent
// alone may open to any client. Which client gets which scopes is the client grants' business
// (./client-grants.ts).
import { StoreConflictError, type ApiRecord, type Store } from '../store/types.js';
import { invalidScopeToken, splitScopes } from './scopes.js';
import { ShortCache } from './short-cache.js';

export class ApiInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiInputError';
  }
}

export interface ApiInput {
  identifier: string;
  scope: string | readonly string[];
  format?: 'jwt' | 'opaque' | undefined;
  ttl?: number | undefined;
  name?: string | undefined;
  signingAlg?: 'RS256' | 'ES256' | undefined;
  /** scope -> plain words for the consent page. */
  scopeDescriptions?: Record<string, string> | undefined;
  /** Scopes any client may get in a user-delegated flow through the user's consent alone. */
  userConsentScopes?: string | readonly string[] | undefined;
}

/** What `apis update` may change: everything but the identifier. */
export type ApiChanges = Partial<Omit<ApiInput, 'identifier'>>;

export interface ApiRemoval {
  /** Remove the clients' grants for this API too, instead of refusing while there are any. */
  force?: boolean | undefined;
}

const MAX_DESCRIPTION = 200;

function checkIdentifier(identifier: string): void {
  let url: URL;
  try {
    url = new URL(identifier);
  } catch {
    throw new ApiInputError(`API identifier must be an absolute URI: ${identifier}`);
  }
  // RFC 8707 §2: a resource indicator must not include a fragment.
  if (url.hash || identifier.includes('#'))
    throw new ApiInputError('API identifier must not contain a fragment');
  if (identifier.length > 2000) throw new ApiInputError('API identifier must be at most 2000 characters');
}

/** Checks and normalises an API's whole definition; throws ApiInputError naming what is wrong. */
function buildRecord(input: ApiInput, createdAt: number, updatedAt?: number): ApiRecord {
  checkIdentifier(input.identifier);
  const scopes = splitScopes(input.scope);
  if (scopes.length === 0) throw new ApiInputError('an API needs at least one scope');
  const badToken = invalidScopeToken(scopes);
  if (badToken !== undefined) {
    throw new ApiInputError(
      `invalid scope ${JSON.stringify(badToken)}: scopes are printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)`,
    );
  }
  const ttl = input.ttl ?? 3600;
  if (!Number.isInteger(ttl) || ttl < 10 || ttl > 86400)
    throw new ApiInputError('--ttl must be 10 to 86400 seconds');
  const descriptions = input.scopeDescriptions ?? {};
  for (const [scope, text] of Object.entries(descriptions)) {
    if (!scopes.includes(scope)) throw new ApiInputError(`scope description for unknown scope ${scope}`);
    if (typeof text !== 'string' || !text.trim() || text.length > MAX_DESCRIPTION)
      throw new ApiInputError(`the description of ${scope} must be 1 to ${MAX_DESCRIPTION} characters`);
  }
  const userConsent = splitScopes(input.userConsentScopes);
  const notOurs = userConsent.find((scope) => !scopes.includes(scope));
  if (notOurs !== undefined)
    throw new ApiInputError(`user-consent scope ${notOurs} is not one of the API's scopes`);
  const name = input.name?.trim();
  if (input.name !== undefined && (!name || name.length > 200))
    throw new ApiInputError('--name must be 1 to 200 characters');
  const format = input.format ?? 'jwt';
  return {
    identifier: input.identifier,
    name: name || undefined,
    scope: scopes.join(' '),
    format,
    signingAlg: format === 'opaque' ? undefined : input.signingAlg,
    accessTokenTtl: ttl,
    scopeDescriptions: Object.keys(descriptions).length
      ? Object.fromEntries(Object.entries(descriptions).map(([scope, text]) => [scope, text.trim()]))
      : undefined,
    userConsentScopes: userConsent.length ? userConsent : undefined,
    createdAt,
    updatedAt,
  };
}

/** Parses `scope=words` pairs (`--scope-description "orders:read=Read your orders"`). */
export function parseScopeDescriptions(pairs: readonly string[]): Record<string, string> {
  const descriptions: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new ApiInputError(`scope description must read scope=text: ${pair}`);
    descriptions[pair.slice(0, at).trim()] = pair.slice(at + 1);
  }
  return descriptions;
}

export class ApiService {
  readonly #store: Store;
  readonly #cache = new ShortCache<ApiRecord | undefined>();

  constructor(store: Store) {
    this.#store = store;
  }

  async add(input: ApiInput): Promise<ApiRecord> {
    const api = buildRecord(input, Date.now());
    await this.#store.apis.create(stripUndefined(api));
    this.#cache.delete(api.identifier);
    return stripUndefined(api);
  }

  /** Looked up on every token request with a resource: cached briefly. */
  get(identifier: string): Promise<ApiRecord | undefined> {
    return this.#cache.get(identifier, () => this.#store.apis.get(identifier));
  }

  /** The stored record, never from the cache (admin reads). */
  show(identifier: string): Promise<ApiRecord | undefined> {
    return this.#store.apis.get(identifier);
  }

  /**
   * Changes an API. Scopes taken away are taken out of every client grant for it (a grant left
   * with no scope goes), so no client keeps a scope the API no longer has.
   */
  async update(identifier: string, changes: ApiChanges): Promise<ApiRecord | undefined> {
    const current = await this.#store.apis.get(identifier);
    if (!current) return undefined;
    const merged: ApiInput = {
      identifier,
      scope: changes.scope ?? current.scope,
      format: changes.format ?? current.format,
      ttl: changes.ttl ?? current.accessTokenTtl,
      name: changes.name ?? current.name,
      signingAlg: changes.signingAlg ?? current.signingAlg,
      scopeDescriptions: changes.scopeDescriptions ?? current.scopeDescriptions,
      userConsentScopes: changes.userConsentScopes ?? current.userConsentScopes,
    };
    if (changes.scope !== undefined) {
      // Descriptions and user-consent scopes of scopes that went, go with them.
      const kept = new Set(splitScopes(changes.scope));
      if (!changes.scopeDescriptions && merged.scopeDescriptions)
        merged.scopeDescriptions = Object.fromEntries(
          Object.entries(merged.scopeDescriptions).filter(([scope]) => kept.has(scope)),
        );
      if (!changes.userConsentScopes && merged.userConsentScopes)
        merged.userConsentScopes = splitScopes(merged.userConsentScopes).filter((scope) => kept.has(scope));
    }
    const api = stripUndefined(buildRecord(merged, current.createdAt, Date.now()));
    await this.#store.apis.update(api);
    this.#cache.delete(identifier);
    const scopes = new Set(api.scope.split(' '));
    for (const grant of await this.#store.clientGrants.listByApi(identifier)) {
      const kept = grant.scopes.filter((scope) => scopes.has(scope));
      if (kept.length === grant.scopes.length) continue;
      if (kept.length === 0) await this.#store.clientGrants.remove(grant.clientId, identifier);
      else await this.#store.clientGrants.put({ ...grant, scopes: kept, updatedAt: Date.now() });
    }
    return api;
  }

  /**
   * Registers a built-in API at start-up unless it is there already. Safe when several processes
   * start together: the one that loses the race finds the winner's record.
   */
  async ensure(input: ApiInput): Promise<ApiRecord> {
    const existing = await this.#store.apis.get(input.identifier);
    // Built-in APIs registered by a release before user-consent scopes existed gain them once.
    if (existing && input.userConsentScopes?.length && !existing.userConsentScopes?.length)
      return (
        (await this.update(input.identifier, { userConsentScopes: input.userConsentScopes })) ?? existing
      );
    if (existing) return existing;
    try {
      return await this.add(input);
    } catch (error) {
      const raced = await this.#store.apis.get(input.identifier);
      if (raced) return raced;
      throw error;
    }
  }

  list(): Promise<ApiRecord[]> {
    return this.#store.apis.list();
  }

  /**
   * Removes an API. While clients hold grants for it, refuses (naming them) unless `force`,
   * which removes those grants too. Tokens already issued for it live out their short lives.
   */
  async remove(identifier: string, options: ApiRemoval = {}): Promise<boolean> {
    if (!(await this.#store.apis.get(identifier))) return false;
    const grants = await this.#store.clientGrants.listByApi(identifier);
    if (grants.length > 0 && !options.force) {
      const holders = grants.map((grant) => grant.clientId);
      throw new StoreConflictError(
        `API ${identifier} is granted to ${holders.length} client(s) (${holders.slice(0, 5).join(', ')}${holders.length > 5 ? ', …' : ''}); ungrant them first, or force the removal (CLI --force, admin API ?force=true)`,
      );
    }
    await this.#store.clientGrants.removeByApi(identifier);
    this.#cache.delete(identifier);
    return this.#store.apis.remove(identifier);
  }
}

/** Records carry no keys set to undefined: stores and their round trips compare them exactly. */
function stripUndefined<T extends object>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as T;
}
