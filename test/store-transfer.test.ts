// `db export` / `db import` between two SQLite stores: every kind of record arrives unchanged,
// secrets sealed and ids hashed as they were, and a bad line is refused with its line number.
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Keyring } from '../src/store/encryption.js';
import { RecordAdapter } from '../src/store/oidc-adapter.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { exportStore, importStore } from '../src/store/transfer.js';
import type { ExportEntry, Store } from '../src/store/types.js';

const CLIENT_SECRET = 'client-secret-that-must-stay-sealed';
const REFRESH_TOKEN_ID = 'refresh-token-id-that-must-stay-hashed';
const GRANT_ID = 'grant-4f1c';
const UPSTREAM_SECRET = 'upstream-client-secret-that-must-stay-sealed';
const UPSTREAM_REFRESH_TOKEN = 'upstream-refresh-token-that-must-stay-sealed';
const CONNECTION_CONTEXT = 'vault-connection:acme-notes:google-drive:end-user-7';

let dirs: string[];
let stores: Store[];

function freshStore(): Store {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-transfer-'));
  dirs.push(dir);
  const store = openSqliteStore(join(dir, 'latchkey.db'));
  stores.push(store);
  return store;
}

beforeEach(() => {
  dirs = [];
  stores = [];
});

afterEach(async () => {
  for (const store of stores) await store.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function seed(store: Store, keyring: Keyring): Promise<void> {
  const now = Date.now();
  await store.clients.put({
    clientId: 'acme-notes',
    metadata: { client_name: 'Acme Notes', redirect_uris: ['https://notes.acme.test/cb'], grant_types: [] },
    secretSealed: keyring.seal(CLIENT_SECRET, 'client:acme-notes'),
    createdAt: now - 5000,
    updatedAt: now - 1000,
  });
  await store.accounts.create({
    id: 'acc-1',
    email: 'ada@example.com',
    emailVerified: true,
    name: 'Ada Lovelace',
    passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo',
    createdAt: now - 4000,
    updatedAt: now - 4000,
  });
  await store.apis.create({
    identifier: 'https://api.acme.test',
    name: 'Acme API',
    scope: 'read write',
    format: 'jwt',
    signingAlg: 'ES256',
    accessTokenTtl: 600,
    createdAt: now - 3000,
  });
  await store.signingKeys.put({
    kid: 'key-1',
    alg: 'RS256',
    status: 'active',
    publicJwk: { kty: 'RSA', kid: 'key-1', n: 'AQAB', e: 'AQAB' },
    privateSealed: keyring.seal('{"d":"private"}', 'signingKey:key-1'),
    createdAt: now - 2000,
    activatedAt: now - 2000,
  });
  await store.settings.put('cookie-keys', keyring.seal('["k1"]', 'setting:cookie-keys'));
  await store.vaultIntegrations.create({
    appId: 'acme-notes',
    key: 'google-drive',
    provider: 'google',
    clientId: 'acme-notes.apps.googleusercontent.test',
    clientSecretSealed: keyring.seal(UPSTREAM_SECRET, 'vault-integration:acme-notes:google-drive'),
    scopes: ['openid', 'https://www.googleapis.com/auth/drive.readonly'],
    authorizationParams: { access_type: 'offline' },
    createdAt: now - 1500,
    updatedAt: now - 1500,
  });
  await store.vaultConnections.put({
    appId: 'acme-notes',
    integrationKey: 'google-drive',
    endUserId: 'end-user-7',
    status: 'active',
    tokensSealed: keyring.seal(
      JSON.stringify({ access_token: 'ya29.a', refresh_token: UPSTREAM_REFRESH_TOKEN, token_type: 'Bearer' }),
      CONNECTION_CONTEXT,
    ),
    expiresAt: now + 3_600_000,
    scopes: ['openid', 'https://www.googleapis.com/auth/drive.readonly'],
    lastError: { code: 'upstream_unavailable', message: 'HTTP 503', at: now - 500 },
    refreshFailures: 1,
    nextRefreshAt: now + 30_000,
    version: 2,
    createdAt: now - 1200,
    updatedAt: now - 500,
  });
  // OIDC artefacts go through the real adapter: hashed key, sealed payload, index fields.
  await new RecordAdapter('Grant', store, keyring).upsert(
    GRANT_ID,
    { jti: GRANT_ID, accountId: 'acc-1', clientId: 'acme-notes', kind: 'Grant' },
    3600,
  );
  await new RecordAdapter('RefreshToken', store, keyring).upsert(
    REFRESH_TOKEN_ID,
    {
      jti: REFRESH_TOKEN_ID,
      grantId: GRANT_ID,
      accountId: 'acc-1',
      kind: 'RefreshToken',
      consumed: 1700000000,
    },
    86400,
  );
}

async function exportToText(store: Store): Promise<{ text: string; count: number }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  const count = await exportStore(store, out);
  out.end();
  return { text: Buffer.concat(chunks).toString('utf8'), count };
}

async function entries(store: Store): Promise<ExportEntry[]> {
  const all: ExportEntry[] = [];
  for await (const entry of store.exportAll()) all.push(entry);
  return all;
}

describe('exportStore and importStore', () => {
  it('move every record to a fresh store unchanged, sealed and hashed as stored', async () => {
    const keyring = new Keyring(randomBytes(32));
    const source = freshStore();
    await seed(source, keyring);

    const { text, count } = await exportToText(source);
    const lines = text.trimEnd().split('\n');
    expect(count).toBe(9);
    expect(lines).toHaveLength(10);
    expect(JSON.parse(lines[0]!)).toMatchObject({ latchkey_export: 1, created_at: expect.any(String) });
    expect(text).not.toContain(CLIENT_SECRET);
    expect(text).not.toContain(REFRESH_TOKEN_ID);
    expect(text).not.toContain(UPSTREAM_SECRET);
    expect(text).not.toContain(UPSTREAM_REFRESH_TOKEN);

    const target = freshStore();
    expect(await importStore(target, Readable.from([text]))).toBe(9);

    expect(await entries(target)).toEqual(await entries(source));
    expect(await target.clients.get('acme-notes')).toEqual(await source.clients.get('acme-notes'));
    expect(await target.accounts.findByEmail('ada@example.com')).toEqual(await source.accounts.get('acc-1'));
    expect(await target.apis.list()).toEqual(await source.apis.list());
    expect(await target.signingKeys.list()).toEqual(await source.signingKeys.list());
    expect(await target.settings.get('cookie-keys')).toBe(await source.settings.get('cookie-keys'));
    expect(await target.oidc.count('Grant')).toBe(1);
    expect(await target.oidc.count('RefreshToken')).toBe(1);
    expect(await target.vaultIntegrations.list('acme-notes')).toEqual(
      await source.vaultIntegrations.list('acme-notes'),
    );
    expect(await target.vaultConnections.list('acme-notes')).toEqual(
      await source.vaultConnections.list('acme-notes'),
    );

    // Usable with the same master key: the sealed secret opens, the token is found by its id.
    const client = await target.clients.get('acme-notes');
    expect(keyring.open(client!.secretSealed!, 'client:acme-notes')).toBe(CLIENT_SECRET);
    const refreshToken = await new RecordAdapter('RefreshToken', target, keyring).find(REFRESH_TOKEN_ID);
    expect(refreshToken).toMatchObject({ grantId: GRANT_ID, accountId: 'acc-1', consumed: 1700000000 });
    await target.oidc.revokeByGrantId(GRANT_ID);
    expect(await target.oidc.count('RefreshToken')).toBe(0);
    const integration = await target.vaultIntegrations.get('acme-notes', 'google-drive');
    expect(keyring.open(integration!.clientSecretSealed!, 'vault-integration:acme-notes:google-drive')).toBe(
      UPSTREAM_SECRET,
    );
    const connection = await target.vaultConnections.get('acme-notes', 'google-drive', 'end-user-7');
    expect(JSON.parse(keyring.open(connection!.tokensSealed, CONNECTION_CONTEXT))).toMatchObject({
      refresh_token: UPSTREAM_REFRESH_TOKEN,
    });
    // The optimistic lock carries on from the imported version.
    expect(await target.vaultConnections.replaceIfVersion({ ...connection!, version: 3 }, 2)).toBe(true);
  });

  it('refuses a corrupt line, naming its line number', async () => {
    const source = freshStore();
    await seed(source, new Keyring(randomBytes(32)));
    const lines = (await exportToText(source)).text.trimEnd().split('\n');

    const truncated = [...lines];
    truncated[3] = truncated[3]!.slice(0, 20);
    await expect(importStore(freshStore(), Readable.from([truncated.join('\n') + '\n']))).rejects.toThrow(
      /^line 4: not valid JSON/,
    );

    const wrongShape = [...lines];
    wrongShape[2] = JSON.stringify({ kind: 'account', record: { id: 'acc-2', email: 42 } });
    await expect(importStore(freshStore(), Readable.from([wrongShape.join('\n')]))).rejects.toThrow(
      /^line 3: not a valid record \(record\.email: /,
    );

    const badConnection = [...lines];
    const connectionLine = badConnection.findIndex((line) => line.includes('"kind":"vaultConnection"'));
    const connection = JSON.parse(badConnection[connectionLine]!) as ExportEntry;
    badConnection[connectionLine] = JSON.stringify({
      ...connection,
      record: { ...(connection.record as object), status: 'expired' },
    });
    await expect(importStore(freshStore(), Readable.from([badConnection.join('\n')]))).rejects.toThrow(
      new RegExp(`^line ${connectionLine + 1}: not a valid record \\(record\\.status: `),
    );

    const unknownKind = [...lines];
    unknownKind[1] = JSON.stringify({ kind: 'lease', record: {} });
    await expect(importStore(freshStore(), Readable.from([unknownKind.join('\n')]))).rejects.toThrow(
      /^line 2: /,
    );
  });

  it('refuses input that is not a latchkey export', async () => {
    const entry = JSON.stringify({ kind: 'setting', record: { name: 'a', value: 'b' } });
    await expect(importStore(freshStore(), Readable.from([entry + '\n']))).rejects.toThrow(
      /^line 1: not a latchkey export/,
    );
    await expect(importStore(freshStore(), Readable.from(['']))).rejects.toThrow(
      /^line 1: not a latchkey export/,
    );
  });
});
