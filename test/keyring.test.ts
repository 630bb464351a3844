// The keyring (src/store/encryption.ts): AES-256-GCM values bound to their record, opened through a
// memo of recent values that must never answer what deciphering would refuse.
import { randomBytes } from 'node:crypto';
import { expect, test } from '@jest/globals';
import { DecryptionError, Keyring } from '../src/store/encryption.js';

const keyring = new Keyring(randomBytes(32));

test('a sealed value opens, again and again, only in its own context', () => {
  // A token long enough that random base64url never contains it by chance ("r1" did, 1 run in 50).
  const plaintext = '{"refresh_token":"rt-4f1c9a7e2b"}';
  const sealed = keyring.seal(plaintext, 'vault-connection:a:b:c');
  expect(sealed).not.toContain('rt-4f1c9a7e2b');
  expect(sealed).not.toContain(Buffer.from(plaintext).toString('base64url').slice(0, 12));
  expect(keyring.open(sealed, 'vault-connection:a:b:c')).toBe(plaintext);
  expect(keyring.open(sealed, 'vault-connection:a:b:c')).toBe(plaintext);
  // Opened (and remembered) above, yet pasted into another record it still fails.
  expect(() => keyring.open(sealed, 'vault-connection:a:b:d')).toThrow(DecryptionError);
});

test('a tampered value fails, even when the untouched one was opened before', () => {
  const sealed = keyring.seal('secret', 'client:x');
  expect(keyring.open(sealed, 'client:x')).toBe('secret');
  const parts = sealed.split('.');
  const body = Buffer.from(parts[4]!, 'base64url');
  body[0] = body[0]! ^ 1;
  parts[4] = body.toString('base64url');
  expect(() => keyring.open(parts.join('.'), 'client:x')).toThrow(DecryptionError);
});

test('each seal uses a fresh IV: the same plaintext never seals the same way twice', () => {
  const ivs = new Set(Array.from({ length: 2000 }, () => keyring.seal('same', 'ctx').split('.')[2]));
  expect(ivs.size).toBe(2000);
});

test('values sealed under a previous key open after rotation; unknown keys are refused', () => {
  const oldKey = randomBytes(32);
  const sealed = new Keyring(oldKey).seal('kept', 'setting:x');
  expect(new Keyring(randomBytes(32), [oldKey]).open(sealed, 'setting:x')).toBe('kept');
  expect(() => new Keyring(randomBytes(32)).open(sealed, 'setting:x')).toThrow(/unknown key id/);
});
