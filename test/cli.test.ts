// The admin CLI as an operator sees it: runCli in-process on a fresh SQLite file, asserting exit
// status, what is on stdout (one JSON document with --json) and stderr (one line on failure).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, describe, expect, it } from '@jest/globals';
import { newClientId } from '../src/authorization/clients.js';
import { runCli } from '../src/cli/main.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const directories: string[] = [];
afterAll(() => directories.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A fresh database (and master key) of its own; `masterKey` to share one with another database. */
function freshEnv(masterKey = randomBytes(32).toString('base64')): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-cli-'));
  directories.push(dir);
  return { DATABASE_URL: `sqlite:${join(dir, 't.db')}`, LATCHKEY_MASTER_KEY: masterKey };
}

async function cli(env: NodeJS.ProcessEnv, args: string[], stdin = ''): Promise<Result> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(args, { stdout, stderr, stdin: Readable.from([stdin]), env });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Runs with --json, expects success and exactly one JSON document on stdout (JSON.parse takes one). */
async function json<T = any>(env: NodeJS.ProcessEnv, args: string[], stdin?: string): Promise<T> {
  const result = await cli(env, [...args, '--json'], stdin);
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(result.stdout) as T;
}

/** A failure: the status, and exactly one line on stderr, which is returned. */
function expectOneLineError(result: Result, code = 1): string {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^latchkey: [^\n]+\n$/);
  return result.stderr;
}

describe('latchkey clients', () => {
  const env = freshEnv();

  it('adds a confidential client with a redirect URI and a secret', async () => {
    const client = await json(env, [
      'clients',
      'add',
      '--name',
      'Notes',
      '--redirect-uri',
      'https://notes.test/cb',
    ]);
    expect(client).toMatchObject({
      client_id: expect.any(String),
      client_secret: expect.any(String),
      client_name: 'Notes',
      redirect_uris: ['https://notes.test/cb'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
  });

  it('makes client ids that a command line cannot mistake for an option', () => {
    // base64url has '-': one id in 64 would start with it and read as an option to the CLI.
    const ids = Array.from({ length: 5000 }, newClientId);
    expect(ids.filter((id) => id.startsWith('-'))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => /^[\w-]{16}$/.test(id))).toBe(true);
  });

  it('adds a public client without a secret', async () => {
    const client = await json(env, [
      'clients',
      'add',
      '--name',
      'Phone app',
      '--public',
      '--redirect-uri',
      'com.example.app:/cb',
      '--redirect-uri',
      'http://127.0.0.1/cb',
    ]);
    expect(client).not.toHaveProperty('client_secret');
    expect(client).toMatchObject({
      token_endpoint_auth_method: 'none',
      redirect_uris: ['com.example.app:/cb', 'http://127.0.0.1/cb'],
    });
  });

  it('adds a client_credentials client without a redirect URI', async () => {
    const client = await json(env, [
      'clients',
      'add',
      '--name',
      'Worker',
      '--grant-types',
      'client_credentials',
    ]);
    expect(client).toMatchObject({
      grant_types: ['client_credentials'],
      redirect_uris: [],
      client_secret: expect.any(String),
    });
  });

  it('refuses authorization_code without a redirect URI, in one line', async () => {
    const result = await cli(env, [
      'clients',
      'add',
      '--name',
      'Web',
      '--grant-types',
      'authorization_code,refresh_token',
    ]);
    expect(expectOneLineError(result)).toContain('--redirect-uri is required');
  });

  it('refuses what oidc-provider would refuse: a redirect URI with a fragment', async () => {
    const result = await cli(env, [
      'clients',
      'add',
      '--name',
      'Web',
      '--redirect-uri',
      'https://web.test/cb#frag',
      '--json',
    ]);
    expect(expectOneLineError(result)).toContain('must not contain fragments');
  });

  it('shows the secret once, saying it will not be shown again', async () => {
    const result = await cli(env, [
      'clients',
      'add',
      '--name',
      'Human',
      '--redirect-uri',
      'https://human.test/cb',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/client_secret\s+\S{20,}/);
    expect(result.stdout).toContain('will not be shown again');
  });

  it('lists, shows, rotates the secret of and removes a client', async () => {
    const added = await json(env, [
      'clients',
      'add',
      '--name',
      'Rotating',
      '--redirect-uri',
      'https://r.test/cb',
    ]);
    const id: string = added.client_id;

    const list = await json<Array<{ client_id: string }>>(env, ['clients', 'list']);
    expect(list.map((client) => client.client_id)).toContain(id);
    expect(JSON.stringify(list)).not.toContain(added.client_secret);

    const shown = await json(env, ['clients', 'show', id]);
    expect(shown).toMatchObject({ client_id: id, client_name: 'Rotating' });
    expect(shown).not.toHaveProperty('client_secret');

    const rotated = await json(env, ['clients', 'rotate-secret', id]);
    expect(rotated.client_secret).toEqual(expect.any(String));
    expect(rotated.client_secret).not.toBe(added.client_secret);

    const human = await cli(env, ['clients', 'show', id]);
    expect(human.stdout).toContain(id);
    expect(human.stdout).not.toMatch(/^client_secret\s/m);
    expect(human.stdout).not.toContain(rotated.client_secret);

    expect(await json(env, ['clients', 'remove', id])).toEqual({
      client_id: id,
      removed: true,
      revoked_records: 0,
      client_grants: 0,
      vault_integrations: 0,
    });
    expect(expectOneLineError(await cli(env, ['clients', 'show', id]))).toBe(`latchkey: no client ${id}\n`);
    expect(expectOneLineError(await cli(env, ['clients', 'remove', id]))).toBe(`latchkey: no client ${id}\n`);
  });
});

describe('latchkey users', () => {
  const env = freshEnv();

  it('adds a user from --password-stdin, refuses a duplicate email, lists without hashes', async () => {
    const user = await json(
      env,
      ['users', 'add', '--email', 'Ada@Example.com', '--name', 'Ada', '--password-stdin'],
      'correct horse battery\n',
    );
    expect(user).toEqual({ id: expect.any(String), email: 'ada@example.com' });

    const duplicate = await cli(env, [
      'users',
      'add',
      '--email',
      'ada@example.com',
      '--name',
      'Ada',
      '--password',
      'another password',
    ]);
    expectOneLineError(duplicate);

    const list = await json<Array<Record<string, unknown>>>(env, ['users', 'list']);
    expect(list).toEqual([
      {
        id: user.id,
        email: 'ada@example.com',
        email_verified: false,
        name: 'Ada',
        disabled: false,
        created: expect.any(String),
        updated: expect.any(String),
      },
    ]);
    const human = await cli(env, ['users', 'list']);
    expect(human.stdout).toContain('ada@example.com');
    for (const output of [JSON.stringify(list), human.stdout]) expect(output).not.toMatch(/argon2/);

    expect(
      await json(env, ['users', 'set-password', user.id, '--password-stdin'], 'a new long password'),
    ).toEqual({ id: user.id, updated: true });
    expect(await json(env, ['users', 'remove', user.id])).toEqual({ id: user.id, removed: true });
    expect(expectOneLineError(await cli(env, ['users', 'remove', user.id]))).toBe(
      `latchkey: no user ${user.id}\n`,
    );
  });

  it('refuses a short password and a missing one', async () => {
    const short = await cli(env, [
      'users',
      'add',
      '--email',
      'b@example.com',
      '--name',
      'B',
      '--password',
      'short',
    ]);
    expect(expectOneLineError(short)).toContain('at least 8 characters');
    const missing = await cli(env, ['users', 'add', '--email', 'b@example.com', '--name', 'B']);
    expect(expectOneLineError(missing, 2)).toContain('--password');
  });
});

describe('latchkey apis', () => {
  const env = freshEnv();

  it('adds, lists and removes an API', async () => {
    const api = await json(env, [
      'apis',
      'add',
      '--identifier',
      'https://api.test/',
      '--scope',
      'read write',
      '--format',
      'opaque',
      '--ttl',
      '600',
    ]);
    expect(api).toMatchObject({
      identifier: 'https://api.test/',
      scope: 'read write',
      format: 'opaque',
      ttl: 600,
    });
    expect(await json(env, ['apis', 'list'])).toEqual([api]);
    expectOneLineError(
      await cli(env, ['apis', 'add', '--identifier', 'https://api.test/', '--scope', 'read']),
    );
    expect(await json(env, ['apis', 'remove', 'https://api.test/'])).toEqual({
      identifier: 'https://api.test/',
      removed: true,
    });
    expect(await json(env, ['apis', 'list'])).toEqual([]);
  });

  it('refuses a bad identifier in one line and a bad --format as a usage error', async () => {
    expect(
      expectOneLineError(await cli(env, ['apis', 'add', '--identifier', 'not a uri', '--scope', 'read'])),
    ).toContain('absolute URI');
    const usage = await cli(env, [
      'apis',
      'add',
      '--identifier',
      'https://a.test/',
      '--scope',
      'read',
      '--format',
      'xml',
    ]);
    expectOneLineError(usage, 2);
  });
});

describe('latchkey keys', () => {
  const env = freshEnv();

  type Key = { kid: string; alg: string; status: string; created: string; expires: string | null };
  const kidOf = (keys: Key[], alg: string, status: string) =>
    keys.filter((key) => key.alg === alg && key.status === status).map((key) => key.kid);

  it('lists an active and a next key per algorithm, and rotation promotes the next key', async () => {
    await json(env, ['clients', 'add', '--name', 'Makes keys', '--grant-types', 'client_credentials']);
    const before = await json<Key[]>(env, ['keys', 'list']);
    for (const alg of ['RS256', 'ES256']) {
      expect(kidOf(before, alg, 'active')).toHaveLength(1);
      expect(kidOf(before, alg, 'next')).toHaveLength(1);
    }
    expect(JSON.stringify(before)).not.toMatch(/"d"|privateSealed/);

    const after = await json<Key[]>(env, ['keys', 'rotate']);
    for (const alg of ['RS256', 'ES256']) {
      expect(kidOf(after, alg, 'active')).toEqual(kidOf(before, alg, 'next'));
      expect(kidOf(after, alg, 'retired')).toEqual(kidOf(before, alg, 'active'));
      expect(kidOf(after, alg, 'next')).toHaveLength(1);
      expect(kidOf(after, alg, 'next')).not.toEqual(kidOf(before, alg, 'next'));
    }
    expect(after.find((key) => key.status === 'retired')?.expires).toEqual(expect.any(String));
  });
});

describe('latchkey db', () => {
  it('exports to a file and imports into another database', async () => {
    const masterKey = randomBytes(32).toString('base64');
    const source = freshEnv(masterKey);
    const target = freshEnv(masterKey);
    const client = await json(source, [
      'clients',
      'add',
      '--name',
      'Moving',
      '--redirect-uri',
      'https://m.test/cb',
    ]);
    const exportDir = mkdtempSync(join(tmpdir(), 'latchkey-cli-export-'));
    directories.push(exportDir);
    const file = join(exportDir, 'export.jsonl');

    await json(source, ['db', 'export', '--output', file]);
    await json(target, ['db', 'import', '--input', file]);
    const shown = await json(target, ['clients', 'show', client.client_id]);
    expect(shown).toEqual(await json(source, ['clients', 'show', client.client_id]));
  });

  it('exports JSON lines to stdout and imports them from stdin', async () => {
    const masterKey = randomBytes(32).toString('base64');
    const source = freshEnv(masterKey);
    const target = freshEnv(masterKey);
    const client = await json(source, [
      'clients',
      'add',
      '--name',
      'Piped',
      '--grant-types',
      'client_credentials',
    ]);
    const exported = await cli(source, ['db', 'export']);
    expect(exported.code).toBe(0);
    for (const line of exported.stdout.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();

    await json(target, ['db', 'import'], exported.stdout);
    expect((await json(target, ['clients', 'show', client.client_id])).client_name).toBe('Piped');
  });

  it('says the SQLite schema needs no migration', async () => {
    expect(await json(freshEnv(), ['db', 'migrate'])).toMatchObject({ store: 'sqlite', migrated: true });
  });
});

describe('latchkey errors', () => {
  it('names a bad setting in one line', async () => {
    const result = await cli({ ...freshEnv(), PORT: 'abc' }, ['clients', 'list']);
    expect(result.code).not.toBe(0);
    expect(expectOneLineError(result, result.code)).toContain('PORT');
  });

  it('reports usage errors in one line with status 2', async () => {
    const env = freshEnv();
    expect(expectOneLineError(await cli(env, ['clients', 'add', '--name', 'X', '--bogus']), 2)).toContain(
      "unknown option '--bogus'",
    );
    expect(expectOneLineError(await cli(env, ['clients', 'show']), 2)).toContain(
      "missing required argument 'id'",
    );
    expect(expectOneLineError(await cli(env, ['nonsense']), 2)).toContain("unknown command 'nonsense'");
  });
});

describe('latchkey vault integrations', () => {
  const env = freshEnv();

  it('adds, lists and removes an app\u2019s integration; the secret is read from stdin and never printed', async () => {
    const added = await json(
      env,
      [
        'vault',
        'integrations',
        'add',
        '--app',
        'app-1',
        '--key',
        'gh',
        '--provider',
        'github',
        '--client-id',
        'Iv1.abc',
        '--client-secret-stdin',
        '--scope',
        'repo',
        '--scope',
        'read:user',
      ],
      'gh-secret-value\n',
    );
    expect(added).toMatchObject({
      app: 'app-1',
      key: 'gh',
      provider: 'github',
      client_id: 'Iv1.abc',
      has_client_secret: true,
      scopes: ['repo', 'read:user'],
    });
    expect(added.redirect_uri).toMatch(/\/vault\/callback$/);
    expect(JSON.stringify(added)).not.toContain('gh-secret-value');

    const listed = await json(env, ['vault', 'integrations', 'list', '--app', 'app-1']);
    expect(listed.map((entry: { key: string }) => entry.key)).toEqual(['gh']);
    expect(await json(env, ['vault', 'integrations', 'list', '--app', 'app-2'])).toEqual([]);

    expectOneLineError(
      await cli(env, [
        'vault',
        'integrations',
        'add',
        '--app',
        'app-1',
        '--key',
        'x',
        '--provider',
        'nope',
        '--client-id',
        'a',
        '--client-secret',
        'b',
      ]),
    );
    expect(await json(env, ['vault', 'integrations', 'remove', '--app', 'app-1', 'gh'])).toEqual({
      app: 'app-1',
      key: 'gh',
      removed: true,
    });
    expectOneLineError(await cli(env, ['vault', 'integrations', 'remove', '--app', 'app-1', 'gh']));
  });
});
