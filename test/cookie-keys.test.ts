// Cookie signing keys (src/http/cookie-keys.ts): keygrip's contract and output, so that cookies
// signed before the switch (by keygrip, HMAC-SHA1 of the string key, base64url) still verify.
import { createHmac } from 'node:crypto';
import { expect, test } from '@jest/globals';
import { CookieKeys } from '../src/web/cookie-keys.js';

const keygripDigest = (secret: string, data: string) =>
  createHmac('sha1', secret)
    .update(data)
    .digest('base64')
    .replace(/\//g, '_')
    .replace(/\+/g, '-')
    .replace(/=/g, '');

test('signs as keygrip does, with the newest key', () => {
  const keys = new CookieKeys(['newest', 'older']);
  expect(keys.sign('_session=abc')).toBe(keygripDigest('newest', '_session=abc'));
});

test('verifies with any listed key and tells which; refuses everything else', () => {
  const keys = new CookieKeys(['newest', 'older']);
  expect(keys.index('_session=abc', keygripDigest('newest', '_session=abc'))).toBe(0);
  expect(keys.index('_session=abc', keygripDigest('older', '_session=abc'))).toBe(1);
  expect(keys.verify('_session=abc', keygripDigest('older', '_session=abc'))).toBe(true);
  expect(keys.index('_session=abd', keygripDigest('newest', '_session=abc'))).toBe(-1);
  expect(keys.index('_session=abc', keygripDigest('unknown', '_session=abc'))).toBe(-1);
  expect(keys.index('_session=abc', '')).toBe(-1);
  expect(keys.index('_session=abc', 'short')).toBe(-1);
  expect(keys.verify('_session=abc', undefined as unknown as string)).toBe(false);
});

test('at least one key is needed', () => {
  expect(() => new CookieKeys([])).toThrow(TypeError);
});
