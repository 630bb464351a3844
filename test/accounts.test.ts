// Password hashing of built-in accounts (src/authorization/accounts.ts): argon2id at an OWASP
// minimum configuration, and hashes made with other settings upgraded at the next good login.
import argon2 from 'argon2';
import { afterAll, expect, test } from '@jest/globals';
import { AccountService, PASSWORD_HASH_OPTIONS } from '../src/authorization/accounts.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';

const store = openSqliteStore(':memory:');
const accounts = new AccountService(store);

afterAll(async () => {
  await store.close();
});

test('new passwords are hashed with argon2id, m=7 MiB, t=5, p=1', async () => {
  const account = await accounts.create({
    email: 'new@example.com',
    name: 'New',
    password: 'long enough pw',
  });
  expect(account.passwordHash).toMatch(/^\$argon2id\$v=19\$m=7168,p=1,t=5\$/);
  expect(await accounts.authenticate('new@example.com', 'long enough pw')).toMatchObject({ id: account.id });
  expect(await accounts.authenticate('new@example.com', 'wrong password')).toBeUndefined();
});

test('a hash made with other settings still verifies, and is replaced at that login', async () => {
  const account = await accounts.create({
    email: 'old@example.com',
    name: 'Old',
    password: 'first password',
  });
  const oldHash = await argon2.hash('first password', {
    ...PASSWORD_HASH_OPTIONS,
    memoryCost: 19 * 1024,
    timeCost: 2,
  });
  await store.accounts.update(account.id, { passwordHash: oldHash });

  // A wrong password changes nothing.
  expect(await accounts.authenticate('old@example.com', 'not the password')).toBeUndefined();
  expect((await store.accounts.get(account.id))!.passwordHash).toBe(oldHash);

  expect(await accounts.authenticate('old@example.com', 'first password')).toMatchObject({ id: account.id });
  const upgraded = (await store.accounts.get(account.id))!.passwordHash;
  expect(upgraded).toMatch(/^\$argon2id\$v=19\$m=7168,p=1,t=5\$/);
  // Once current, the hash is left alone: one argon2 computation per login, not two.
  expect(await accounts.authenticate('old@example.com', 'first password')).toMatchObject({ id: account.id });
  expect((await store.accounts.get(account.id))!.passwordHash).toBe(upgraded);
});
