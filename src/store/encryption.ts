// Encryption at rest: AES-256-GCM with a fresh IV per record and the key id in every sealed value,
// so that the master key can be rotated (new values use the current key; old ones still open
// while their key is listed as a previous key). Hashing of lookup ids lives here too.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createSecretKey,
  hash,
  randomFillSync,
  type KeyObject,
} from 'node:crypto';
import { LRUCache } from 'lru-cache';

const PREFIX = 'lk1';
const IV_BYTES = 12;
/** Characters of a sealed value that cover its prefix, key id, IV and tag (3 + 10 + 16 + 22 + dots). */
const MEMO_HEAD = 64;

// IVs come from a pool of CSPRNG output, refilled when used up: the same random bytes as one
// randomBytes() call per IV, without a system call per IV (OpenSSL asks for the process id on every
// call, and system calls are what costs most on the machines this runs on). Bytes are never reused.
const IV_POOL_BYTES = IV_BYTES * 512;
const ivPool = Buffer.alloc(IV_POOL_BYTES);
let ivPoolOffset = IV_POOL_BYTES;

function nextIv(): Buffer {
  if (ivPoolOffset === IV_POOL_BYTES) {
    randomFillSync(ivPool);
    ivPoolOffset = 0;
  }
  // A copy: the cipher and the sealed value keep the IV after the pool has moved on.
  const iv = Buffer.from(ivPool.subarray(ivPoolOffset, ivPoolOffset + IV_BYTES));
  ivPoolOffset += IV_BYTES;
  return iv;
}

export class DecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecryptionError';
  }
}

/** SHA-256 hex of a value: how token, code and session ids are stored and looked up. */
export function sha256Hex(value: string): string {
  return hash('sha256', value, 'hex');
}

/** A short, stable id for a key, derived from the key itself (never reveals it). */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update('latchkey-key-id').update(key).digest('base64url').slice(0, 10);
}

/**
 * The id of the key that sealed `sealed`, read from its header without opening it (a key id is a
 * one-way digest of its key, not a secret). Undefined when the text is not a sealed value.
 */
export function sealedKeyId(sealed: string): string | undefined {
  const parts = sealed.split('.');
  return parts.length === 5 && parts[0] === PREFIX && parts[1] !== '' ? parts[1] : undefined;
}

export class Keyring {
  readonly currentKeyId: string;
  // KeyObjects, not Buffers: Node checks a Buffer key's type on every cipher it makes (through a
  // thrown and caught internal error), which costs more than the encryption of a small record.
  readonly #keys: Map<string, KeyObject>;
  // Values opened recently. Opening is a pure function of the sealed text and its context (and of
  // the keys, fixed for the keyring's life), so a hit returns exactly what deciphering would; it
  // spares the hot path a cipher per read of the same record (a grant on every refresh, a token on
  // every introspection). Keyed by context and the head of the sealed text (key id, IV and tag,
  // unique per seal), and a hit must match the whole sealed text. The plaintext stays in this
  // process's memory, as it does while in use.
  readonly #opened = new LRUCache<string, { sealed: string; plaintext: string }>({
    max: 20_000,
    maxSize: 32 * 1024 * 1024,
    sizeCalculation: (entry, key) => key.length + entry.sealed.length + entry.plaintext.length,
  });

  /** `current` seals new values; `previous` keys only open old ones. Each is 32 bytes. */
  constructor(current: Buffer, previous: Buffer[] = []) {
    for (const key of [current, ...previous]) {
      if (key.length !== 32) throw new TypeError('encryption keys must be 32 bytes');
    }
    this.currentKeyId = keyIdOf(current);
    this.#keys = new Map([[this.currentKeyId, createSecretKey(current)]]);
    for (const key of previous) this.#keys.set(keyIdOf(key), createSecretKey(key));
  }

  /**
   * Seals `plaintext`. `context` is bound as additional authenticated data: a value sealed for one
   * record (say, `client:abc`) cannot be pasted into another and still open.
   */
  seal(plaintext: string, context: string): string {
    const key = this.#keys.get(this.currentKeyId)!;
    const iv = nextIv();
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      PREFIX,
      this.currentKeyId,
      iv.toString('base64url'),
      tag.toString('base64url'),
      body.toString('base64url'),
    ].join('.');
  }

  /** True when this keyring holds the key with this id (the current one or a previous one). */
  holds(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /**
   * The same plaintext sealed anew under the current key (a fresh IV, the same context), for
   * retiring a previous key. Not remembered among the opened values: each is resealed once.
   */
  reseal(sealed: string, context: string): string {
    return this.seal(this.#decipher(sealed, context), context);
  }

  open(sealed: string, context: string): string {
    const memo = `${context}\u0000${sealed.slice(0, MEMO_HEAD)}`;
    const known = this.#opened.get(memo);
    if (known !== undefined && known.sealed === sealed) return known.plaintext;
    const plaintext = this.#decipher(sealed, context);
    this.#opened.set(memo, { sealed, plaintext });
    return plaintext;
  }

  #decipher(sealed: string, context: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== PREFIX) throw new DecryptionError('not a sealed value');
    const [, keyId, iv, tag, body] = parts as [string, string, string, string, string];
    const key = this.#keys.get(keyId);
    if (!key) throw new DecryptionError(`sealed with unknown key id ${keyId}`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new DecryptionError('sealed value failed authentication');
    }
  }
}
