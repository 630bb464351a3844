// Boots a real Latchkey on 127.0.0.1 and a random port, on a fresh SQLite file, for tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { createLatchkey, type Latchkey, type LatchkeyOptions } from '../../src/http/app.js';
import { loadKeyring, openStore } from '../../src/store/index.js';

export interface TestServer {
  url: string;
  dir: string;
  latchkey: Latchkey;
  server: Server;
  /** Stops the server (and closes the store); removes the directory unless `keep`. */
  close(options?: { keep?: boolean }): Promise<void>;
}

export interface StartOptions {
  /** Reuse a directory (and so the database and key file) from an earlier server. */
  dir?: string;
  /** Listen on this port (to restart a server at the same issuer URL); default random. */
  port?: number;
  env?: Record<string, string>;
  options?: Partial<LatchkeyOptions>;
}

export async function startLatchkey(start: StartOptions = {}): Promise<TestServer> {
  const dir = start.dir ?? mkdtempSync(join(tmpdir(), 'latchkey-test-'));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(start.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: url,
    DATABASE_URL: `sqlite:${join(dir, 'latchkey.db')}`,
    LOG_LEVEL: 'silent',
    // The fake providers and apps of the suites listen on loopback, which the outbound rules refuse;
    // test/outbound-guard.test.ts sets it back to 'false'.
    OUTBOUND_ALLOW_PRIVATE: 'true',
    ...start.env,
  });
  const keyring = loadKeyring(config);
  const store = await openStore(config, { backgroundCheckpoints: true });
  const latchkey = await createLatchkey(config, store, keyring, {
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    keyReloadIntervalMs: 0,
    ...start.options,
  });
  server.on('request', latchkey.app.callback());
  return {
    url,
    dir,
    latchkey,
    server,
    async close(options = {}) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await latchkey.close();
      // Let clients' keep-alive pools see the closed sockets before a restart on the same port.
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (!options.keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ServerProcess {
  url: string;
  stop(): Promise<void>;
}

/**
 * Another Latchkey, in a child process of its own, on the same directory (database, master key)
 * and issuer as `server`: two processes sharing one SQLite file, as in production.
 */
export async function startLatchkeyProcess(server: TestServer): Promise<ServerProcess> {
  const { fork } = await import('node:child_process');
  const here = new URL('.', import.meta.url);
  const child = fork(new URL('instance-process.ts', here).pathname, [server.dir, server.url], {
    execArgv: [
      '--experimental-transform-types',
      '--no-warnings',
      '--import',
      new URL('ts-resolve.mjs', here).href,
    ],
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`the second Latchkey process exited (${code})`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.send('stop');
      }),
  };
}
