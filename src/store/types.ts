// The storage interface every store implements (SQLite embedded, PostgreSQL, MongoDB). Only src/store/ talks to
// a database; everything else calls these methods. Values that could be used by whoever reads the
// database (token ids, payloads, secrets, private keys) reach the store already hashed or sealed:
// see ./oidc-adapter.ts and ./encryption.ts. A store never needs the master key.

/**
 * One `oidc-provider` artefact (session, code, token, grant, interaction ...), as persisted.
 * `key` is the SHA-256 (hex) of the artefact's id; `payload` is the sealed JSON payload.
 * The index fields are copied out of the payload so that the store can look them up.
 */
export interface OidcRecord {
  model: string;
  key: string;
  payload: string;
  /** Grant the artefact belongs to, for revokeByGrantId. Not secret. */
  grantId?: string | undefined;
  /** Session uid (Session model only), for findByUid. */
  uid?: string | undefined;
  /** SHA-256 (hex) of the normalised device user code (DeviceCode model only). */
  userCode?: string | undefined;
  /** Epoch milliseconds after which the record is gone; undefined = never expires. */
  expiresAt?: number | undefined;
  /** Epoch seconds when the artefact was consumed (set by consume). */
  consumedAt?: number | undefined;
  /**
   * Account the artefact belongs to (any model whose payload has one: Grant, Session, tokens,
   * codes), for listing a user's connected apps and for revoking everything of a removed account.
   */
  accountId?: string | undefined;
  /** Client the artefact was issued to (any model whose payload has one), for revokeByClientId. */
  clientId?: string | undefined;
}

export interface OidcRecordStore {
  /** Inserts or replaces the record with this (model, key). Keeps nothing of the old one. */
  upsert(record: OidcRecord): Promise<void>;
  /** The unexpired record, or undefined. */
  find(model: string, key: string): Promise<OidcRecord | undefined>;
  findByUid(model: string, uid: string): Promise<OidcRecord | undefined>;
  findByUserCode(model: string, userCode: string): Promise<OidcRecord | undefined>;
  /** Every unexpired record of a model that carries this accountId. */
  findByAccountId(model: string, accountId: string): Promise<OidcRecord[]>;
  /**
   * Atomically marks the record consumed (epoch seconds) if it was not already.
   * Returns true when this call consumed it, false when it was missing or consumed already.
   */
  consume(model: string, key: string, at: number): Promise<boolean>;
  destroy(model: string, key: string): Promise<void>;
  /** Removes every record, of any model, that carries this grantId. */
  revokeByGrantId(grantId: string): Promise<void>;
  /** Removes every record, of any model, that carries this clientId; returns how many went. */
  revokeByClientId(clientId: string): Promise<number>;
  /** Removes every record, of any model, that carries this accountId; returns how many went. */
  revokeByAccountId(accountId: string): Promise<number>;
  /** Counts unexpired records of a model (for tests, metrics and benchmarks). */
  count(model: string): Promise<number>;
}

/** A registered client application. `client_secret` lives only in `secretSealed`. */
export interface ClientRecord {
  clientId: string;
  /** oidc-provider client metadata without client_secret. */
  metadata: Record<string, unknown>;
  /** Sealed client secret (confidential clients), or undefined for public clients. */
  secretSealed?: string | undefined;
  createdAt: number;
  updatedAt: number;
}

export interface ClientStore {
  put(client: ClientRecord): Promise<void>;
  get(clientId: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  /** Returns true when a client was removed. */
  remove(clientId: string): Promise<boolean>;
}

export interface AccountRecord {
  id: string;
  /** Lower-cased; unique. */
  email: string;
  emailVerified: boolean;
  name: string;
  /** argon2id PHC string. */
  passwordHash: string;
  /** A disabled account cannot sign in; undefined = enabled. */
  disabled?: boolean | undefined;
  createdAt: number;
  updatedAt: number;
}

export interface AccountStore {
  /** Throws StoreConflictError when the email is taken. */
  create(account: AccountRecord): Promise<void>;
  get(id: string): Promise<AccountRecord | undefined>;
  findByEmail(email: string): Promise<AccountRecord | undefined>;
  list(): Promise<AccountRecord[]>;
  update(id: string, changes: Partial<Omit<AccountRecord, 'id' | 'createdAt'>>): Promise<boolean>;
  remove(id: string): Promise<boolean>;
}

/** A resource server (API) that clients may request tokens for with RFC 8707 `resource`. */
export interface ApiRecord {
  /** The resource indicator, an absolute URI. */
  identifier: string;
  name?: string | undefined;
  /** Space-separated scopes the API accepts. */
  scope: string;
  format: 'jwt' | 'opaque';
  /** JWS algorithm of JWT access tokens (default RS256). */
  signingAlg?: 'RS256' | 'ES256' | undefined;
  /** Access token lifetime in seconds. */
  accessTokenTtl: number;
  /** Plain-words description of each scope, shown on the consent page (scope -> text). */
  scopeDescriptions?: Record<string, string> | undefined;
  /**
   * Scopes any client may get through a user's consent in a user-delegated flow (authorization
   * code, device), without a client grant for them. Empty or undefined = none (least privilege).
   */
  userConsentScopes?: string[] | undefined;
  createdAt: number;
  /** Last change (epoch ms); undefined for records written before APIs could be updated. */
  updatedAt?: number | undefined;
}

export interface ApiStore {
  /** Throws StoreConflictError when the identifier exists. */
  create(api: ApiRecord): Promise<void>;
  get(identifier: string): Promise<ApiRecord | undefined>;
  list(): Promise<ApiRecord[]>;
  /** Replaces the record with the same identifier; false when there is none. */
  update(api: ApiRecord): Promise<boolean>;
  remove(identifier: string): Promise<boolean>;
}

/**
 * An admin's grant of one API to one client (Auth0's client grants, Hydra's audience and scope
 * allow-lists): the client may get tokens for `api` carrying at most `scopes`.
 */
export interface ClientGrantRecord {
  clientId: string;
  /** The API's identifier (resource indicator). */
  api: string;
  /** The scopes granted, each one of the API's scopes; never empty. */
  scopes: string[];
  createdAt: number;
  updatedAt: number;
}

export interface ClientGrantStore {
  /** Inserts or replaces the grant for (clientId, api). */
  put(grant: ClientGrantRecord): Promise<void>;
  get(clientId: string, api: string): Promise<ClientGrantRecord | undefined>;
  /** The client's grants, ordered by api. */
  listByClient(clientId: string): Promise<ClientGrantRecord[]>;
  /** The grants for one API, ordered by clientId. */
  listByApi(api: string): Promise<ClientGrantRecord[]>;
  /** False when there was none. */
  remove(clientId: string, api: string): Promise<boolean>;
  /** Removes every grant of the client; returns how many went. */
  removeByClient(clientId: string): Promise<number>;
  /** Removes every grant for the API; returns how many went. */
  removeByApi(api: string): Promise<number>;
}

/**
 * A signing key. `next` keys are published in the JWKS but do not sign yet; `active` signs;
 * `retired` is still published (old tokens verify) until `expiresAt`, then it is removed.
 */
export interface SigningKeyRecord {
  kid: string;
  alg: string;
  status: 'next' | 'active' | 'retired';
  /** Public JWK as JSON. */
  publicJwk: Record<string, unknown>;
  /** Sealed private JWK JSON. */
  privateSealed: string;
  createdAt: number;
  activatedAt?: number | undefined;
  retiredAt?: number | undefined;
  /** When a retired key may be dropped from the JWKS (epoch ms). */
  expiresAt?: number | undefined;
}

export interface SigningKeyStore {
  put(key: SigningKeyRecord): Promise<void>;
  list(): Promise<SigningKeyRecord[]>;
  remove(kid: string): Promise<boolean>;
}

/** Small named values the server creates once and keeps (cookie keys ...). Values are sealed. */
export interface SettingStore {
  get(name: string): Promise<string | undefined>;
  /** Sets the value only if none exists; returns the value now stored (first writer wins). */
  putIfAbsent(name: string, value: string): Promise<string>;
  put(name: string, value: string): Promise<void>;
}

/** Short exclusive leases (locks) with an owner and an expiry, shared by every process. */
export interface LeaseStore {
  /** Takes the lease if it is free or expired; true when `owner` now holds it. */
  acquire(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lease only if `owner` still holds it. */
  release(name: string, owner: string): Promise<boolean>;
}

/** A counter's state after a hit. */
export interface CounterState {
  /** Hits in the current window, this one included. */
  count: number;
  /** When the current window ends (epoch ms); the next hit after it starts a new one at 1. */
  resetAt: number;
}

/**
 * Counters in fixed windows, shared by every process and instance on the store: login throttling
 * counts tries with them, and replay checks (DPoP proofs) see whether a value came before. Each
 * call is one atomic step in the database, so concurrent callers never see the same count.
 */
export interface CounterStore {
  /**
   * Adds one to the counter `key` and returns its new state. A missing counter, or one whose window
   * ended at or before `now`, starts again at 1 with a window that ends at `now + windowMs`.
   */
  hit(key: string, windowMs: number, now?: number): Promise<CounterState>;
  /** Takes one back (a try that was refused after all); nothing when the window has ended or it is 0. */
  decrement(key: string, now?: number): Promise<void>;
  /** Removes the counter. */
  reset(key: string): Promise<void>;
}

/** An app's configuration of one upstream provider (token vault). */
export interface VaultIntegrationRecord {
  /** client_id of the Latchkey app that owns it: every lookup is scoped by it. */
  appId: string;
  /** The app's name for it, unique per app, used in routes (e.g. `google-drive`). */
  key: string;
  /** Catalog provider name (`google`, `github`, `oidc`, ...). */
  provider: string;
  /** The app's client id at the provider. */
  clientId: string;
  /** Sealed client secret at the provider (context `vault-integration:<appId>:<key>`). */
  clientSecretSealed?: string | undefined;
  scopes: string[];
  /** Issuer URL, for the `oidc` provider (discovery). */
  issuer?: string | undefined;
  /** Extra authorization request parameters (e.g. `{ "access_type": "offline" }`). */
  authorizationParams?: Record<string, string> | undefined;
  createdAt: number;
  updatedAt: number;
}

export interface VaultConnectionRecord {
  appId: string;
  integrationKey: string;
  /** The app's own id for its end user. */
  endUserId: string;
  status: 'active' | 'needs_reauth' | 'revoked';
  /**
   * Sealed JSON of the token set `{ access_token, refresh_token?, token_type, id_token?, scope? }`
   * (context `vault-connection:<appId>:<integrationKey>:<endUserId>`).
   */
  tokensSealed: string;
  /** Access token expiry, epoch ms; undefined = unknown / does not expire. */
  expiresAt?: number | undefined;
  scopes: string[];
  lastRefreshAt?: number | undefined;
  /** The last refresh failure: a stable code and what the provider answered (no token values). */
  lastError?: { code: string; message: string; at: number } | undefined;
  /** Consecutive transient refresh failures (for backoff). */
  refreshFailures: number;
  /** No refresh attempt before this time (epoch ms) after transient failures. */
  nextRefreshAt?: number | undefined;
  /** Incremented on every update: updates may require the version they read (optimistic lock). */
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface VaultIntegrationStore {
  /** Throws StoreConflictError when (appId, key) exists. */
  create(integration: VaultIntegrationRecord): Promise<void>;
  get(appId: string, key: string): Promise<VaultIntegrationRecord | undefined>;
  list(appId: string): Promise<VaultIntegrationRecord[]>;
  /** Replaces the record with the same (appId, key); false when there is none. */
  update(integration: VaultIntegrationRecord): Promise<boolean>;
  /** Removes the integration and all its connections; false when there was none. */
  remove(appId: string, key: string): Promise<boolean>;
  /** Removes every integration of the app and all their connections; returns how many integrations went. */
  removeByApp(appId: string): Promise<number>;
}

export interface VaultConnectionStore {
  /** Inserts or replaces the connection with the same (appId, integrationKey, endUserId). */
  put(connection: VaultConnectionRecord): Promise<void>;
  get(appId: string, integrationKey: string, endUserId: string): Promise<VaultConnectionRecord | undefined>;
  /** The app's connections, optionally only one integration's and/or one end user's. */
  list(
    appId: string,
    filter?: { integrationKey?: string; endUserId?: string },
  ): Promise<VaultConnectionRecord[]>;
  /**
   * Replaces the connection only if its stored version is `expectedVersion` (atomically; the new
   * record carries its own, incremented, version). False when it changed meanwhile or is gone.
   */
  replaceIfVersion(connection: VaultConnectionRecord, expectedVersion: number): Promise<boolean>;
  remove(appId: string, integrationKey: string, endUserId: string): Promise<boolean>;
}

/** The kinds of record that export/import move between stores. */
export type ExportKind =
  | 'oidc'
  | 'client'
  | 'clientGrant'
  | 'account'
  | 'api'
  | 'signingKey'
  | 'setting'
  | 'vaultIntegration'
  | 'vaultConnection';

/** A setting as export/import moves it (kind 'setting'). */
export interface SettingRecord {
  name: string;
  value: string;
}

/**
 * One exported record. `record` is, by kind: oidc OidcRecord, client ClientRecord, account
 * AccountRecord, api ApiRecord, signingKey SigningKeyRecord, setting SettingRecord, the same in
 * every store so that an export from one imports into another.
 */
export interface ExportEntry {
  kind: ExportKind;
  record: unknown;
}

/**
 * Where one sealed value is stored: the kind of record and its identity. Each kind names the one
 * field it seals (oidc `payload`, client `secretSealed`, signingKey `privateSealed`, setting
 * `value`, vaultIntegration `clientSecretSealed`, vaultConnection `tokensSealed`).
 */
export type SealedValueLocation =
  | { kind: 'oidc'; model: string; key: string }
  | { kind: 'client'; clientId: string }
  | { kind: 'signingKey'; kid: string }
  | { kind: 'setting'; name: string }
  | { kind: 'vaultIntegration'; appId: string; key: string }
  | { kind: 'vaultConnection'; appId: string; integrationKey: string; endUserId: string };

export interface Store {
  readonly kind: 'sqlite' | 'postgres' | 'mongodb';
  readonly oidc: OidcRecordStore;
  readonly clients: ClientStore;
  readonly accounts: AccountStore;
  readonly apis: ApiStore;
  readonly clientGrants: ClientGrantStore;
  readonly signingKeys: SigningKeyStore;
  readonly settings: SettingStore;
  readonly leases: LeaseStore;
  readonly counters: CounterStore;
  readonly vaultIntegrations: VaultIntegrationStore;
  readonly vaultConnections: VaultConnectionStore;
  /** Resolves when the store answers a trivial query (health checks). */
  ping(): Promise<void>;
  /** Deletes expired OIDC records, leases and counters; returns how many rows went. */
  purgeExpired(now?: number): Promise<number>;
  /** Every record, as stored (hashes and sealed values stay as they are). */
  exportAll(): AsyncIterable<ExportEntry>;
  /** Writes one exported record, replacing any with the same identity. */
  importEntry(entry: ExportEntry): Promise<void>;
  /**
   * Replaces one sealed value with `replacement` only where the stored one is still exactly
   * `expected`, in one atomic statement that touches no other field (consumedAt, version and
   * updatedAt stay as they are). False when the record is gone or its value changed meanwhile: a
   * compare-and-swap for re-encrypting stored values under a new master key while servers run.
   */
  resealIfUnchanged(location: SealedValueLocation, expected: string, replacement: string): Promise<boolean>;
  close(): Promise<void>;
}

/** A unique constraint was violated (duplicate email, API identifier ...). */
export class StoreConflictError extends Error {
  readonly code = 'conflict';
  constructor(message: string) {
    super(message);
    this.name = 'StoreConflictError';
  }
}
