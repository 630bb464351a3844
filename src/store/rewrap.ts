// Re-encrypting the stored sealed values under the current master key (`latchkey keys rewrap`), so
// that a previous key, listed in LATCHKEY_PREVIOUS_MASTER_KEYS only to read old values, can be
// retired. Safe while servers run: every write is a compare-and-swap of one sealed field
// (Store.resealIfUnchanged), so a value a server changed meanwhile (a refreshed vault token set, a
// rotated client secret, an oidc record saved again) is left as the server wrote it, under the
// key the server seals with, and no other field (a refresh token's consumedAt, a connection's
// version) is ever written. Resumable: a run only touches values not yet under the current key, so
// a run that was stopped, or that lost some races, is finished by running it again.
import { DecryptionError, sealedKeyId, type Keyring } from './encryption.js';
import type { ExportEntry, OidcRecord, SealedValueLocation, Store } from './types.js';

export type SealedKind = SealedValueLocation['kind'];

/** The kinds in the order a run takes them: export order, the bulk (oidc records) last. */
export const SEALED_KINDS: readonly SealedKind[] = [
  'setting',
  'signingKey',
  'client',
  'vaultIntegration',
  'vaultConnection',
  'oidc',
];

/** How many values a run reseals at once (one group commit on SQLite, the pool on PostgreSQL). */
const BATCH_SIZE = 200;

/**
 * The additional authenticated data each value was sealed with. It must match the code that seals
 * it: oidc records in ./oidc-adapter.ts (and the vault's connect flow, the same form), clients in
 * ../authorization/clients.ts, signing keys in ../authorization/keys.ts, settings (cookie keys) in
 * ../http/app.ts, vault integrations and connections in ../vault/ (see ./types.ts). A mismatch
 * shows as a value that does not open, counted as unreadable and never written.
 */
export function sealContextOf(location: SealedValueLocation): string {
  switch (location.kind) {
    case 'oidc':
      return `${location.model}:${location.key}`;
    case 'client':
      return `client:${location.clientId}`;
    case 'signingKey':
      return `signing-key:${location.kid}`;
    case 'setting':
      return `setting:${location.name}`;
    case 'vaultIntegration':
      return `vault-integration:${location.appId}:${location.key}`;
    case 'vaultConnection':
      return `vault-connection:${location.appId}:${location.integrationKey}:${location.endUserId}`;
  }
}

/** A stored sealed value: where it is and its text. */
interface SealedValue {
  location: SealedValueLocation;
  sealed: string;
}

/** The sealed value an exported record carries, if any (an expired oidc record is never opened again). */
function sealedValueOf(entry: ExportEntry, now: number): SealedValue | undefined {
  switch (entry.kind) {
    case 'oidc': {
      const record = entry.record as OidcRecord;
      if (record.expiresAt !== undefined && record.expiresAt <= now) return undefined;
      return { location: { kind: 'oidc', model: record.model, key: record.key }, sealed: record.payload };
    }
    case 'client': {
      const record = entry.record as { clientId: string; secretSealed?: string };
      return present({ kind: 'client', clientId: record.clientId }, record.secretSealed);
    }
    case 'signingKey': {
      const record = entry.record as { kid: string; privateSealed: string };
      return present({ kind: 'signingKey', kid: record.kid }, record.privateSealed);
    }
    case 'setting': {
      const record = entry.record as { name: string; value: string };
      return present({ kind: 'setting', name: record.name }, record.value);
    }
    case 'vaultIntegration': {
      const record = entry.record as { appId: string; key: string; clientSecretSealed?: string };
      return present(
        { kind: 'vaultIntegration', appId: record.appId, key: record.key },
        record.clientSecretSealed,
      );
    }
    case 'vaultConnection': {
      const record = entry.record as {
        appId: string;
        integrationKey: string;
        endUserId: string;
        tokensSealed: string;
      };
      const { appId, integrationKey, endUserId } = record;
      return present({ kind: 'vaultConnection', appId, integrationKey, endUserId }, record.tokensSealed);
    }
    default:
      return undefined;
  }
}

const present = (location: SealedValueLocation, sealed: string | undefined) =>
  sealed === undefined ? undefined : { location, sealed };

/** The values that still need a key other than the current one. */
export interface RemainingValues {
  total: number;
  byKind: Partial<Record<SealedKind, number>>;
  /** Counts by the key id each value was sealed with. */
  byKeyId: Record<string, number>;
  /** Key ids among them that this keyring does not hold: no configured key opens those values. */
  unknownKeyIds: string[];
}

/** What a survey found: the remaining values and where each one is. */
export interface Survey {
  remaining: RemainingValues;
  locations: SealedValueLocation[];
}

/** One value ready to be swapped: the text read just now and the same plaintext sealed anew. */
export interface PreparedReseal {
  location: SealedValueLocation;
  expected: string;
  replacement: string;
}

/**
 * What prepare() found at a location: a value to swap; nothing to do (`gone`: the record, or its
 * value, was removed or expired; `current`: a server has written it again under the current key);
 * or a value that no key of this keyring opens (`unreadable`).
 */
export type Preparation =
  | { status: 'ready'; reseal: PreparedReseal }
  | { status: 'gone' | 'current' }
  | { status: 'unreadable'; reason: string };

export interface RewrapProgress {
  kind: SealedKind;
  /** Values of this kind handled so far, and in all. */
  done: number;
  total: number;
  resealed: number;
  skippedChanged: number;
}

export interface RewrapSummary {
  resealed: Partial<Record<SealedKind, number>>;
  /** Values changed or removed by a server between the survey and the swap: left as they are. */
  skippedChanged: number;
  /** Values under a previous key that no key of this keyring could open (left as they are). */
  unreadable: number;
  /** Surveyed again after the run: what still needs a previous key. */
  remaining: RemainingValues;
}

export class MasterKeyRewrap {
  readonly #store: Store;
  readonly #keyring: Keyring;

  constructor(store: Store, keyring: Keyring) {
    this.#store = store;
    this.#keyring = keyring;
  }

  /**
   * Reads every record once (in export order) and notes where the values not sealed under the
   * current key are. Only their locations are kept (some 150 bytes each), and nothing is written
   * while the records are read: SQLite could not write through a connection whose read is still
   * open once another process has written.
   */
  async survey(now: number = Date.now()): Promise<Survey> {
    const remaining: RemainingValues = { total: 0, byKind: {}, byKeyId: {}, unknownKeyIds: [] };
    const locations: SealedValueLocation[] = [];
    for await (const entry of this.#store.exportAll()) {
      const value = sealedValueOf(entry, now);
      const keyId = value && sealedKeyId(value.sealed);
      // Text that is not a sealed value (a setting stored in the clear) needs no key at all.
      if (!value || keyId === undefined || keyId === this.#keyring.currentKeyId) continue;
      const { kind } = value.location;
      remaining.total += 1;
      remaining.byKind[kind] = (remaining.byKind[kind] ?? 0) + 1;
      remaining.byKeyId[keyId] = (remaining.byKeyId[keyId] ?? 0) + 1;
      if (!this.#keyring.holds(keyId) && !remaining.unknownKeyIds.includes(keyId)) {
        remaining.unknownKeyIds.push(keyId);
      }
      locations.push(value.location);
    }
    return { remaining, locations };
  }

  /** What still needs a previous key, without changing anything (`keys rewrap --check`). */
  async check(): Promise<RemainingValues> {
    return (await this.survey()).remaining;
  }

  /** Reads the value stored at `location` now and, when it is still under another key, seals it anew. */
  async prepare(location: SealedValueLocation): Promise<Preparation> {
    const sealed = await this.#read(location);
    if (sealed === undefined) return { status: 'gone' };
    const keyId = sealedKeyId(sealed);
    if (keyId === undefined || keyId === this.#keyring.currentKeyId) return { status: 'current' };
    if (!this.#keyring.holds(keyId)) {
      return { status: 'unreadable', reason: `sealed with key id ${keyId}, which is not configured` };
    }
    try {
      const replacement = this.#keyring.reseal(sealed, sealContextOf(location));
      return { status: 'ready', reseal: { location, expected: sealed, replacement } };
    } catch (error) {
      if (error instanceof DecryptionError) return { status: 'unreadable', reason: error.message };
      throw error;
    }
  }

  /** Swaps the value in; false when a server changed or removed it since prepare() read it. */
  commit(reseal: PreparedReseal): Promise<boolean> {
    return this.#store.resealIfUnchanged(reseal.location, reseal.expected, reseal.replacement);
  }

  /**
   * Surveys, reseals kind by kind in batches (each value read again just before its swap), then
   * surveys again for what remains: values written meanwhile by a server still sealing with an
   * old key, or under keys this keyring does not hold.
   */
  async run(onProgress?: (progress: RewrapProgress) => void): Promise<RewrapSummary> {
    const { locations } = await this.survey();
    const summary: Omit<RewrapSummary, 'remaining'> = { resealed: {}, skippedChanged: 0, unreadable: 0 };
    for (const kind of SEALED_KINDS) {
      const ofKind = locations.filter((location) => location.kind === kind);
      if (ofKind.length === 0) continue;
      const progress: RewrapProgress = {
        kind,
        done: 0,
        total: ofKind.length,
        resealed: 0,
        skippedChanged: 0,
      };
      for (let start = 0; start < ofKind.length; start += BATCH_SIZE) {
        const batch = ofKind.slice(start, start + BATCH_SIZE);
        const outcomes = await Promise.all(batch.map((location) => this.#rewrapOne(location)));
        for (const outcome of outcomes) {
          if (outcome === 'resealed') progress.resealed += 1;
          else if (outcome === 'changed') progress.skippedChanged += 1;
          else summary.unreadable += 1;
        }
        progress.done += batch.length;
        onProgress?.({ ...progress });
      }
      summary.resealed[kind] = progress.resealed;
      summary.skippedChanged += progress.skippedChanged;
    }
    return { ...summary, remaining: await this.check() };
  }

  async #rewrapOne(location: SealedValueLocation): Promise<'resealed' | 'changed' | 'unreadable'> {
    const preparation = await this.prepare(location);
    if (preparation.status === 'unreadable') return 'unreadable';
    if (preparation.status !== 'ready') return 'changed';
    return (await this.commit(preparation.reseal)) ? 'resealed' : 'changed';
  }

  /** The sealed text stored at `location` now; undefined when the record or its value is gone. */
  async #read(location: SealedValueLocation): Promise<string | undefined> {
    const store = this.#store;
    switch (location.kind) {
      case 'oidc':
        return (await store.oidc.find(location.model, location.key))?.payload;
      case 'client':
        return (await store.clients.get(location.clientId))?.secretSealed;
      case 'signingKey':
        return (await store.signingKeys.list()).find((key) => key.kid === location.kid)?.privateSealed;
      case 'setting':
        return store.settings.get(location.name);
      case 'vaultIntegration':
        return (await store.vaultIntegrations.get(location.appId, location.key))?.clientSecretSealed;
      case 'vaultConnection':
        return (await store.vaultConnections.get(location.appId, location.integrationKey, location.endUserId))
          ?.tokensSealed;
    }
  }
}
