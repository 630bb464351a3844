// The oidc-provider adapter over the Store: ids are stored under their SHA-256, payloads sealed
// (AES-256-GCM, bound to model and key), and the index fields copied out for lookups. Clients
// come from the client registry instead (see ../authorization/clients.ts).
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { sha256Hex, type Keyring } from './encryption.js';
import type { OidcRecord, Store } from './types.js';

export type ClientLookup = (clientId: string) => Promise<AdapterPayload | undefined>;

const nowSeconds = () => Math.floor(Date.now() / 1000);

export class RecordAdapter implements Adapter {
  readonly #model: string;
  readonly #store: Store;
  readonly #keyring: Keyring;

  constructor(model: string, store: Store, keyring: Keyring) {
    this.#model = model;
    this.#store = store;
    this.#keyring = keyring;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const key = sha256Hex(id);
    // `consumed` lives in its own column so that consume() can set it atomically.
    const { consumed: _consumed, ...rest } = payload;
    const record: OidcRecord = {
      model: this.#model,
      key,
      payload: this.#keyring.seal(JSON.stringify(rest), `${this.#model}:${key}`),
      // A grant carries its own id as grantId, so that revoking a grant id removes the grant too.
      grantId: this.#model === 'Grant' ? id : payload.grantId,
      accountId: payload.accountId,
      clientId: payload.clientId,
      uid: payload.uid,
      userCode: payload.userCode ? sha256Hex(payload.userCode) : undefined,
      expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined,
      consumedAt: typeof payload.consumed === 'number' ? payload.consumed : undefined,
    };
    await this.#store.oidc.upsert(record);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.#open(await this.#store.oidc.find(this.#model, sha256Hex(id)));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#open(await this.#store.oidc.findByUid(this.#model, uid));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#open(await this.#store.oidc.findByUserCode(this.#model, sha256Hex(userCode)));
  }

  async consume(id: string): Promise<void> {
    await this.#store.oidc.consume(this.#model, sha256Hex(id), nowSeconds());
  }

  async destroy(id: string): Promise<void> {
    await this.#store.oidc.destroy(this.#model, sha256Hex(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#store.oidc.revokeByGrantId(grantId);
  }

  #open(record: OidcRecord | undefined): AdapterPayload | undefined {
    if (!record) return undefined;
    const payload = JSON.parse(
      this.#keyring.open(record.payload, `${record.model}:${record.key}`),
    ) as AdapterPayload;
    if (record.consumedAt !== undefined) payload.consumed = record.consumedAt;
    return payload;
  }
}

/** The payload of a stored record, as oidc-provider wrote it. */
export function openRecordPayload(keyring: Keyring, record: OidcRecord): AdapterPayload {
  const payload = JSON.parse(keyring.open(record.payload, `${record.model}:${record.key}`)) as AdapterPayload;
  if (record.consumedAt !== undefined) payload.consumed = record.consumedAt;
  return payload;
}

/** Read-only adapter for the Client model: clients are registered through the admin CLI. */
export class ClientAdapter implements Adapter {
  readonly #lookup: ClientLookup;

  constructor(lookup: ClientLookup) {
    this.#lookup = lookup;
  }

  find(id: string): Promise<AdapterPayload | undefined> {
    return this.#lookup(id);
  }

  async upsert(): Promise<void> {
    throw new TypeError('clients are registered with `latchkey clients add`, not through the provider');
  }

  async findByUid(): Promise<undefined> {
    return undefined;
  }

  async findByUserCode(): Promise<undefined> {
    return undefined;
  }

  async consume(): Promise<void> {}

  async destroy(): Promise<void> {}

  async revokeByGrantId(): Promise<void> {}
}

/**
 * How long a seen DPoP proof or client assertion id is counted: longer than oidc-provider accepts a
 * DPoP proof (its CHALLENGE_OK_WINDOW, 5 minutes) and than most client assertions live.
 */
const REPLAY_WINDOW_MS = 10 * 60 * 1000;

/**
 * The ReplayDetection model, atomic across instances. oidc-provider's ReplayDetection.unique
 * (lib/models/replay_detection.js) calls find() and, when that finds nothing, saves the id with
 * upsert(): two steps, between which another instance, or a concurrent request in this one, can
 * find nothing too and accept the same DPoP proof. Here find() is the whole check: one atomic
 * counter step that the first caller wins (it finds nothing, so the proof is accepted) and every
 * later caller within the window loses (it finds the id, so the proof is a replay).
 */
export class ReplayDetectionAdapter implements Adapter {
  readonly #counters: Store['counters'];
  /** Ids that must be kept longer than the window (a client assertion with a distant `exp`). */
  readonly #lasting: RecordAdapter;

  constructor(store: Store, keyring: Keyring) {
    this.#counters = store.counters;
    this.#lasting = new RecordAdapter('ReplayDetection', store, keyring);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const { count } = await this.#counters.hit(`replay:${sha256Hex(id)}`, REPLAY_WINDOW_MS);
    if (count > 1) return { kind: 'ReplayDetection', jti: id };
    // First within the window: seen before only if an earlier use outlived its window.
    return this.#lasting.find(id);
  }

  /** Called once find() came back empty: the counter holds the id already, for the window. */
  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    if (expiresIn !== undefined && expiresIn * 1000 > REPLAY_WINDOW_MS) {
      await this.#lasting.upsert(id, payload, expiresIn);
    }
  }

  async findByUid(): Promise<undefined> {
    return undefined;
  }

  async findByUserCode(): Promise<undefined> {
    return undefined;
  }

  async consume(): Promise<void> {}

  async destroy(id: string): Promise<void> {
    await this.#lasting.destroy(id);
  }

  async revokeByGrantId(): Promise<void> {}
}

/** The `adapter` option of oidc-provider: one adapter instance per model name. */
export function createAdapterFactory(store: Store, keyring: Keyring, clients: ClientLookup) {
  const adapters = new Map<string, Adapter>();
  return (model: string): Adapter => {
    let adapter = adapters.get(model);
    if (!adapter) {
      adapter =
        model === 'Client'
          ? new ClientAdapter(clients)
          : model === 'ReplayDetection'
            ? new ReplayDetectionAdapter(store, keyring)
            : new RecordAdapter(model, store, keyring);
      adapters.set(model, adapter);
    }
    return adapter;
  };
}
