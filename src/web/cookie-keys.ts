// Signing keys for cookies, in the shape Koa's cookies and oidc-provider take instead of a key array
// (keygrip's sign / verify / index), with keygrip's output (HMAC-SHA1, base64url), so cookies signed
// before stay valid. Keygrip itself hands its string keys to createHmac, which makes Node probe each
// key's type through a thrown and caught internal error, and it compares digests through two more
// HMACs under a fresh random key: together about a millisecond of every sign-in. Here the keys are
// KeyObjects made once, and digests are compared with crypto.timingSafeEqual.
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

export class CookieKeys {
  readonly #keys: KeyObject[];

  /** `secrets`: the newest first; it signs, all of them verify. */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new TypeError('at least one cookie key is needed');
    this.#keys = secrets.map((secret) => createSecretKey(Buffer.from(secret, 'utf8')));
  }

  sign(data: string): string {
    return digestOf(this.#keys[0]!, data);
  }

  verify(data: string, digest: string): boolean {
    return this.index(data, digest) > -1;
  }

  /** Which key signed `data` into `digest`, or -1. */
  index(data: string, digest: string): number {
    const presented = Buffer.from(String(digest), 'utf8');
    for (let i = 0; i < this.#keys.length; i++) {
      const expected = Buffer.from(digestOf(this.#keys[i]!, data), 'utf8');
      // Digest length is public (it is the algorithm's); only equal lengths are compared.
      if (presented.length === expected.length && timingSafeEqual(presented, expected)) return i;
    }
    return -1;
  }
}

function digestOf(key: KeyObject, data: string): string {
  return createHmac('sha1', key).update(data).digest('base64url');
}
