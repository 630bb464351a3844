// The client registry: apps registered by an admin (`latchkey clients add`, the admin API).
// Secrets are high-entropy, shown once, sealed at rest; oidc-provider reads clients through
// lookup(). A client's API scopes are client grants (./client-grants.ts); its `scope` metadata
// holds only the OpenID Connect scopes, the ones oidc-provider itself knows.
import { randomBytes } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import type { Keyring } from '../store/encryption.js';
import type { ClientRecord, Store } from '../store/types.js';
import type { ApiService } from './apis.js';
import { grantView, type ClientGrantService } from './client-grants.js';
import {
  ClientInputError,
  clientMetadataFor,
  registrationOf,
  resolveClientScopes,
  type ClientChanges,
  type ClientRegistration,
  type ClientView,
} from './client-metadata.js';
import { NotFoundError } from './errors.js';

export {
  ClientInputError,
  DEVICE_CODE_GRANT,
  KNOWN_GRANT_TYPES,
  type ClientChanges,
  type ClientRegistration,
  type ClientView,
} from './client-metadata.js';
import { ShortCache } from './short-cache.js';

/** What `remove` took away with the client. */
export interface ClientRemoval {
  client_id: string;
  removed: true;
  /** Tokens, codes, grants and interactions of the client's that were revoked. */
  revoked_records: number;
  client_grants: number;
  vault_integrations: number;
}

export type ClientValidator = (metadata: AdapterPayload) => Promise<void>;

const newSecret = () => randomBytes(32).toString('base64url');
/**
 * 16 base64url characters, never starting with '-': admins pass client ids as command-line
 * arguments, where a leading '-' reads as an option (it was one id in 64).
 */
export function newClientId(): string {
  for (;;) {
    const id = randomBytes(12).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export class ClientService {
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #apis: ApiService;
  readonly #grants: ClientGrantService;
  /** Changes made elsewhere (the CLI, another instance) reach this process within its life. */
  readonly #cache = new ShortCache<AdapterPayload | undefined>();

  constructor(store: Store, keyring: Keyring, apis: ApiService, grants: ClientGrantService) {
    this.#store = store;
    this.#keyring = keyring;
    this.#apis = apis;
    this.#grants = grants;
  }

  /**
   * Registers a client. `validate` receives the full metadata (with secret) and throws when
   * oidc-provider would refuse it, so that a bad client fails at registration, not at login.
   */
  async add(input: ClientRegistration, validate?: ClientValidator): Promise<ClientView> {
    const resolved = await resolveClientScopes(this.#apis, input.scope, input.apis);
    const metadata = clientMetadataFor({ ...input, scope: resolved.oidc?.join(' ') });
    const clientId = newClientId();
    const secret = input.public ? undefined : newSecret();
    const full = {
      ...metadata,
      client_id: clientId,
      ...(secret ? { client_secret: secret } : {}),
    } as AdapterPayload;
    await validate?.(full);
    const now = Date.now();
    await this.#store.clients.put({
      clientId,
      metadata,
      secretSealed: secret ? this.#keyring.seal(secret, `client:${clientId}`) : undefined,
      createdAt: now,
      updatedAt: now,
    });
    const grants = [];
    for (const [api, scopes] of resolved.grants) grants.push(await this.#grants.grant(clientId, api, scopes));
    return {
      client_id: clientId,
      ...(secret ? { client_secret: secret } : {}),
      ...metadata,
      created_at: new Date(now).toISOString(),
      grants: grants.map(grantView),
    };
  }

  /**
   * Changes a client. Fields not given stay as they are; `scope`, when given, replaces all of the
   * client's scopes: its OpenID Connect scopes and its API grants (grants for APIs it no longer
   * names are taken away).
   */
  async update(clientId: string, changes: ClientChanges, validate?: ClientValidator): Promise<ClientView> {
    const record = await this.#store.clients.get(clientId);
    if (!record) throw new NotFoundError('client', clientId);
    if ('public' in changes)
      throw new ClientInputError(
        'a client cannot change between public and confidential; register a new one',
      );
    const current = registrationOf(record.metadata);
    const resolved =
      changes.scope !== undefined || changes.apis !== undefined
        ? await resolveClientScopes(this.#apis, changes.scope ?? '', changes.apis)
        : undefined;
    const registration: ClientRegistration = {
      ...current,
      ...Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)),
      public: current.public,
      scope: resolved ? resolved.oidc?.join(' ') : current.scope,
    };
    const metadata = clientMetadataFor(registration);
    const secret = record.secretSealed
      ? this.#keyring.open(record.secretSealed, `client:${clientId}`)
      : undefined;
    await validate?.({
      ...metadata,
      client_id: clientId,
      ...(secret ? { client_secret: secret } : {}),
    } as AdapterPayload);
    await this.#store.clients.put({ ...record, metadata, updatedAt: Date.now() });
    this.#cache.delete(clientId);
    if (resolved) {
      for (const grant of await this.#grants.list(clientId))
        if (!resolved.grants.has(grant.api)) await this.#grants.ungrant(clientId, grant.api);
      for (const [api, scopes] of resolved.grants) await this.#grants.grant(clientId, api, scopes);
    }
    return (await this.show(clientId))!;
  }

  async list(): Promise<ClientView[]> {
    return (await this.#store.clients.list()).map(view);
  }

  /** The client, with its grants (never its secret). */
  async show(clientId: string): Promise<ClientView | undefined> {
    const record = await this.#store.clients.get(clientId);
    if (!record) return undefined;
    return { ...view(record), grants: (await this.#grants.list(clientId)).map(grantView) };
  }

  /** A new secret replaces the old one at once; returns it (shown once). */
  async rotateSecret(clientId: string): Promise<ClientView | undefined> {
    const record = await this.#store.clients.get(clientId);
    if (!record) return undefined;
    if (!record.secretSealed) throw new ClientInputError('a public client has no secret to rotate');
    const secret = newSecret();
    await this.#store.clients.put({
      ...record,
      secretSealed: this.#keyring.seal(secret, `client:${clientId}`),
      updatedAt: Date.now(),
    });
    this.#cache.delete(clientId);
    return { ...view(record), client_secret: secret };
  }

  /**
   * Removes a client and everything it holds: its tokens, codes and user grants (so refresh and
   * access tokens stop working at once, introspection answers inactive), its client grants, and its
   * vault integrations with their connections (sealed upstream tokens included).
   */
  async remove(clientId: string): Promise<ClientRemoval | undefined> {
    this.#cache.delete(clientId);
    // The record first: from here on no new token can be issued to it.
    if (!(await this.#store.clients.remove(clientId))) return undefined;
    this.#cache.delete(clientId);
    const revoked = await this.#store.oidc.revokeByClientId(clientId);
    const grants = await this.#store.clientGrants.removeByClient(clientId);
    const integrations = await this.#store.vaultIntegrations.removeByApp(clientId);
    return {
      client_id: clientId,
      removed: true,
      revoked_records: revoked,
      client_grants: grants,
      vault_integrations: integrations,
    };
  }

  /** oidc-provider's view of a client (with its secret), cached briefly: it is on every token request. */
  lookup(clientId: string): Promise<AdapterPayload | undefined> {
    return this.#cache.get(clientId, () => this.#load(clientId));
  }

  async #load(clientId: string): Promise<AdapterPayload | undefined> {
    const record = await this.#store.clients.get(clientId);
    return record
      ? ({
          ...record.metadata,
          client_id: record.clientId,
          ...(record.secretSealed
            ? { client_secret: this.#keyring.open(record.secretSealed, `client:${record.clientId}`) }
            : {}),
        } as AdapterPayload)
      : undefined;
  }
}

function view(record: ClientRecord): ClientView {
  return {
    client_id: record.clientId,
    ...record.metadata,
    created_at: new Date(record.createdAt).toISOString(),
  };
}
