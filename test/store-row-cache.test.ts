// Rows the SQLite store keeps in memory between batches (src/store/sqlite/row-cache.ts) must never
// outlive a change: two stores on one file stand for two server processes (or a server and the
// admin CLI); what one writes, the other reads back at once, and each sees its own writes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { Store, VaultConnectionRecord } from '../src/store/types.js';

let dir: string;
let a: Store;
let b: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'latchkey-row-cache-'));
  a = openSqliteStore(join(dir, 'latchkey.db'));
  b = openSqliteStore(join(dir, 'latchkey.db'));
});

afterEach(async () => {
  await a.close();
  await b.close();
  rmSync(dir, { recursive: true, force: true });
});

const token = (payload: string) => ({
  model: 'AccessToken',
  key: 'k1',
  payload,
  grantId: 'g1',
  expiresAt: Date.now() + 60_000,
});

test('a token changed, consumed, revoked or destroyed by another process is seen at once', async () => {
  await a.oidc.upsert(token('first'));
  expect((await a.oidc.find('AccessToken', 'k1'))?.payload).toBe('first');
  expect((await b.oidc.find('AccessToken', 'k1'))?.payload).toBe('first');

  await b.oidc.upsert(token('second'));
  expect((await a.oidc.find('AccessToken', 'k1'))?.payload).toBe('second');

  expect(await b.oidc.consume('AccessToken', 'k1', 1234)).toBe(true);
  expect((await a.oidc.find('AccessToken', 'k1'))?.consumedAt).toBe(1234);

  await b.oidc.revokeByGrantId('g1');
  expect(await a.oidc.find('AccessToken', 'k1')).toBeUndefined();

  await a.oidc.upsert(token('third'));
  expect((await b.oidc.find('AccessToken', 'k1'))?.payload).toBe('third');
  await b.oidc.destroy('AccessToken', 'k1');
  expect(await a.oidc.find('AccessToken', 'k1')).toBeUndefined();
});

test('a store sees its own writes, and a remembered record still expires', async () => {
  await a.oidc.upsert({ ...token('short'), expiresAt: Date.now() + 150 });
  expect((await a.oidc.find('AccessToken', 'k1'))?.payload).toBe('short');
  expect(await a.oidc.consume('AccessToken', 'k1', 99)).toBe(true);
  expect((await a.oidc.find('AccessToken', 'k1'))?.consumedAt).toBe(99);
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(await a.oidc.find('AccessToken', 'k1')).toBeUndefined();
});

test('an account changed or removed elsewhere (say, by the admin CLI) is read anew', async () => {
  const account = {
    id: 'acc-1',
    email: 'ann@example.com',
    emailVerified: true,
    name: 'Ann',
    passwordHash: '$argon2id$placeholder',
    createdAt: 1,
    updatedAt: 1,
  };
  await a.accounts.create(account);
  expect((await a.accounts.get('acc-1'))?.name).toBe('Ann');
  await b.accounts.update('acc-1', { name: 'Ann B.' });
  expect((await a.accounts.get('acc-1'))?.name).toBe('Ann B.');
  await a.accounts.update('acc-1', { name: 'Ann C.' });
  expect((await a.accounts.get('acc-1'))?.name).toBe('Ann C.');
  await b.accounts.remove('acc-1');
  expect(await a.accounts.get('acc-1')).toBeUndefined();
});

test('vault rows: a refresh in another process and a removed integration are seen at once', async () => {
  const now = Date.now();
  await a.vaultIntegrations.create({
    appId: 'app',
    key: 'drive',
    provider: 'google',
    clientId: 'cid',
    scopes: ['openid'],
    createdAt: now,
    updatedAt: now,
  });
  const connection: VaultConnectionRecord = {
    appId: 'app',
    integrationKey: 'drive',
    endUserId: 'u1',
    status: 'active',
    tokensSealed: 'sealed-v1',
    scopes: ['openid'],
    refreshFailures: 0,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  await a.vaultConnections.put(connection);
  expect((await a.vaultConnections.get('app', 'drive', 'u1'))?.version).toBe(1);
  expect(
    await b.vaultConnections.replaceIfVersion({ ...connection, tokensSealed: 'sealed-v2', version: 2 }, 1),
  ).toBe(true);
  expect((await a.vaultConnections.get('app', 'drive', 'u1'))?.tokensSealed).toBe('sealed-v2');
  // A stale copy cannot win: the version moved on.
  expect(await a.vaultConnections.replaceIfVersion({ ...connection, version: 2 }, 1)).toBe(false);

  expect((await a.vaultIntegrations.get('app', 'drive'))?.clientId).toBe('cid');
  await b.vaultIntegrations.update({
    ...(await b.vaultIntegrations.get('app', 'drive'))!,
    clientId: 'cid-2',
  });
  expect((await a.vaultIntegrations.get('app', 'drive'))?.clientId).toBe('cid-2');
  await a.vaultIntegrations.remove('app', 'drive');
  expect(await a.vaultIntegrations.get('app', 'drive')).toBeUndefined();
  expect(await a.vaultConnections.get('app', 'drive', 'u1')).toBeUndefined();
  expect(await b.vaultConnections.get('app', 'drive', 'u1')).toBeUndefined();
});
