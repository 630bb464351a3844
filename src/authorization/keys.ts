// Signing keys: persisted, published before use, retired after use. Each algorithm (RS256, ES256)
// has an `active` key that signs, a `next` key already in the JWKS (so that verifiers have it
// cached before it signs: a rotation only promotes a published key) and `retired` keys kept
// until every token they signed has expired.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Keyring } from '../store/encryption.js';
import type { SigningKeyRecord, Store } from '../store/types.js';

export const SIGNING_ALGS = ['RS256', 'ES256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

/** Longest life of anything signed (JWT access tokens up to a day, plus margin). */
export const RETIRED_KEY_RETENTION_MS = 25 * 3600 * 1000;

const STATUS_ORDER = { active: 0, next: 1, retired: 2 } as const;

export class KeyService {
  readonly #store: Store;
  readonly #keyring: Keyring;

  constructor(store: Store, keyring: Keyring) {
    this.#store = store;
    this.#keyring = keyring;
  }

  async #generate(alg: SigningAlg, status: SigningKeyRecord['status']): Promise<SigningKeyRecord> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
    const now = Date.now();
    return {
      kid,
      alg,
      status,
      publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
      privateSealed: this.#keyring.seal(JSON.stringify(privateJwk), `signing-key:${kid}`),
      createdAt: now,
      activatedAt: status === 'active' ? now : undefined,
    };
  }

  /**
   * Runs `work` holding the signing-keys lease, shared by every process and instance: key changes
   * never interleave (two rotations at once would each promote the same `next` key and each add
   * a `next` key of their own).
   */
  async #underLease<T>(work: () => Promise<T>): Promise<T> {
    const owner = randomUUID();
    const deadline = Date.now() + 15_000;
    while (!(await this.#store.leases.acquire('signing-keys', owner, 30_000))) {
      if (Date.now() > deadline) throw new Error('another process holds the signing-keys lease; try again');
      await sleep(50);
    }
    try {
      return await work();
    } finally {
      await this.#store.leases.release('signing-keys', owner);
    }
  }

  /**
   * At start: every algorithm gets an active and a next key if it lacks them. Under the lease, so
   * that processes starting together on an empty store do not each make an active key.
   */
  async ensure(): Promise<void> {
    await this.#underLease(() => this.#ensureUnderLease());
  }

  async #ensureUnderLease(): Promise<void> {
    const keys = await this.#store.signingKeys.list();
    for (const alg of SIGNING_ALGS) {
      if (!keys.some((key) => key.alg === alg && key.status === 'active')) {
        await this.#store.signingKeys.put(await this.#generate(alg, 'active'));
      }
      if (!keys.some((key) => key.alg === alg && key.status === 'next')) {
        await this.#store.signingKeys.put(await this.#generate(alg, 'next'));
      }
    }
  }

  /**
   * Promotes each algorithm's published `next` key to `active`, retires the old active key
   * (published until tokens it signed expire), and publishes a fresh `next` key. The whole rotation
   * holds the lease: rotations asked for at once run one after the other.
   */
  async rotate(): Promise<SigningKeyRecord[]> {
    await this.#underLease(async () => {
      await this.#ensureUnderLease();
      const now = Date.now();
      const keys = await this.#store.signingKeys.list();
      for (const alg of SIGNING_ALGS) {
        const active = keys.find((key) => key.alg === alg && key.status === 'active')!;
        const next = keys.find((key) => key.alg === alg && key.status === 'next')!;
        // Generated before the writes (an RSA key takes a while), so that they follow each other
        // closely; the next key is promoted before the old one retires, so one always signs.
        const fresh = await this.#generate(alg, 'next');
        await this.#store.signingKeys.put({ ...next, status: 'active', activatedAt: now });
        await this.#store.signingKeys.put({
          ...active,
          status: 'retired',
          retiredAt: now,
          expiresAt: now + RETIRED_KEY_RETENTION_MS,
        });
        await this.#store.signingKeys.put(fresh);
      }
      await this.purgeRetired(now);
    });
    return this.list();
  }

  async purgeRetired(now = Date.now()): Promise<void> {
    for (const key of await this.#store.signingKeys.list()) {
      if (key.status === 'retired' && key.expiresAt !== undefined && key.expiresAt <= now) {
        await this.#store.signingKeys.remove(key.kid);
      }
    }
  }

  /** Keys in publication order: active first (oidc-provider signs with the first key of an alg). */
  async list(): Promise<SigningKeyRecord[]> {
    const now = Date.now();
    return (await this.#store.signingKeys.list())
      .filter((key) => key.status !== 'retired' || key.expiresAt === undefined || key.expiresAt > now)
      .sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || b.createdAt - a.createdAt);
  }

  /** The private JWKS for oidc-provider. */
  async privateJwks(): Promise<{ keys: JWK[] }> {
    return {
      keys: (await this.list()).map(
        (key) => JSON.parse(this.#keyring.open(key.privateSealed, `signing-key:${key.kid}`)) as JWK,
      ),
    };
  }

  /** Changes whenever the published key set changes (used to reload a running server). */
  async fingerprint(): Promise<string> {
    return (await this.list()).map((key) => `${key.kid}:${key.status}`).join(',');
  }
}
