// Registered APIs (resource servers): what `resource` values clients may ask tokens for (RFC 8707).
import type { ApiRecord, Store } from '../store/types.js';

export class ApiInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiInputError';
  }
}

export class ApiService {
  readonly #store: Store;
  readonly #cache = new Map<string, { api: ApiRecord | undefined; at: number }>();
  static readonly CACHE_MS = 5000;

  constructor(store: Store) {
    this.#store = store;
  }

  async add(input: {
    identifier: string;
    scope: string;
    format?: 'jwt' | 'opaque' | undefined;
    ttl?: number | undefined;
    name?: string | undefined;
    signingAlg?: 'RS256' | 'ES256' | undefined;
  }): Promise<ApiRecord> {
    let url: URL;
    try {
      url = new URL(input.identifier);
    } catch {
      throw new ApiInputError(`API identifier must be an absolute URI: ${input.identifier}`);
    }
    // RFC 8707 §2: a resource indicator must not include a fragment.
    if (url.hash) throw new ApiInputError('API identifier must not contain a fragment');
    const scopes = input.scope.split(/\s+/).filter(Boolean);
    if (scopes.length === 0) throw new ApiInputError('an API needs at least one scope');
    if (scopes.some((scope) => !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope))) {
      throw new ApiInputError('scopes must be printable ASCII without quotes or backslashes (RFC 6749 §3.3)');
    }
    const ttl = input.ttl ?? 3600;
    if (!Number.isInteger(ttl) || ttl < 10 || ttl > 86400)
      throw new ApiInputError('--ttl must be 10 to 86400 seconds');
    const api: ApiRecord = {
      identifier: input.identifier,
      name: input.name,
      scope: scopes.join(' '),
      format: input.format ?? 'jwt',
      signingAlg: input.format === 'opaque' ? undefined : input.signingAlg,
      accessTokenTtl: ttl,
      createdAt: Date.now(),
    };
    await this.#store.apis.create(api);
    this.#cache.delete(api.identifier);
    return api;
  }

  /** Looked up on every token request with a resource: cached briefly. */
  async get(identifier: string): Promise<ApiRecord | undefined> {
    const cached = this.#cache.get(identifier);
    if (cached && Date.now() - cached.at < ApiService.CACHE_MS) return cached.api;
    const api = await this.#store.apis.get(identifier);
    this.#cache.set(identifier, { api, at: Date.now() });
    return api;
  }

  /**
   * Registers a built-in API at start-up unless it is there already. Safe when several processes
   * start together: the one that loses the race finds the winner's record.
   */
  async ensure(input: Parameters<ApiService['add']>[0]): Promise<ApiRecord> {
    const existing = await this.#store.apis.get(input.identifier);
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

  async remove(identifier: string): Promise<boolean> {
    this.#cache.delete(identifier);
    return this.#store.apis.remove(identifier);
  }
}
