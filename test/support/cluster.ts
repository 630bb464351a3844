// Several Latchkey processes on one store, behind one front door, as a load balancer would run
// them: N child processes on one SQLite file or one PostgreSQL database, each on its own port and
// all with the same ISSUER, the URL of a small loopback proxy (the front) that forwards each
// request, Host header unchanged, to the instance the test chooses (or the next one in turn).
// oidc-provider builds its URLs from the issuer and the request's Host, so every instance sees the
// issuer it expects, and a flow may hop between instances as it would behind a real balancer.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLatchkey, type TestServer } from './latchkey.js';
import { postgresSkipReason, TestDatabases } from './postgres.js';

/** Request header: the instance (0…N-1) that must serve this request. Response header: the one that did. */
export const INSTANCE_HEADER = 'x-cluster-instance';
/** Response header on answers the front made itself, because the chosen instance did not answer. */
export const FRONT_ERROR_HEADER = 'x-cluster-front-error';

export type ClusterStoreKind = 'sqlite' | 'postgres';

/** Connections per instance on PostgreSQL: four instances (three and the admin) stay far below 100. */
const POOL_SIZE = 5;
/** Where the instances keep V8's compile cache between starts. */
const COMPILE_CACHE = join(tmpdir(), 'latchkey-test-compile-cache');
/** How long a graceful stop may take before the process is killed. */
const STOP_GRACE_MS = 5000;

export interface ClusterInstance {
  readonly index: number;
  /** The instance's own address (the front forwards here). */
  readonly url: string;
  readonly port: number;
  /** False from kill() until restart() has it listening again. */
  readonly up: boolean;
  readonly pid: number | undefined;
}

/** One answer as the front saw it. */
export interface Answer {
  instance: number;
  method: string;
  path: string;
  status: number;
  /** The front answered (502) because the instance was down or dropped the request. */
  fromFront: boolean;
  at: number;
}

export interface Cluster {
  readonly kind: ClusterStoreKind;
  /** The URL every instance names as ISSUER: the front. */
  readonly issuer: string;
  /**
   * The cluster as the suites' helpers (flows.ts, vault.ts) see one server: `url` is the issuer
   * (the front), `latchkey` an admin's view of the same store (its services and store) in this
   * process, which serves no traffic of the front's.
   */
  readonly front: TestServer;
  readonly instances: readonly ClusterInstance[];
  /** Every answer through the front since the start (or the last clearAnswers()). */
  readonly answers: readonly Answer[];
  clearAnswers(): void;
  /**
   * Where requests without INSTANCE_HEADER go: one instance, or 'round-robin' (the default) over
   * the instances that are up.
   */
  route(target: number | 'round-robin'): void;
  /** `kill -9` of one instance; resolves once it is gone (the front then stops choosing it). */
  kill(index: number): Promise<void>;
  /** Starts a killed instance again, on the same port and store. */
  restart(index: number): Promise<void>;
  /** Stops every instance and the front, and removes the store. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  kind: ClusterStoreKind;
  /** Number of instances. Default 3. */
  size?: number;
  /** More settings for every instance (and the admin). */
  env?: Record<string, string>;
}

/** Undefined when a cluster of this kind can run here; otherwise why its tests skip. */
export async function clusterSkipReason(kind: ClusterStoreKind): Promise<string | undefined> {
  return kind === 'postgres' ? postgresSkipReason() : undefined;
}

interface RunningInstance {
  index: number;
  port: number;
  url: string;
  child: ChildProcess | undefined;
  up: boolean;
  agent: Agent;
}

/** Forks one instance (test/support/instance-process.ts); resolves with its URL once it listens. */
async function forkInstance(
  dir: string,
  issuer: string,
  port: number,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const here = new URL('.', import.meta.url);
  const child = fork(
    new URL('instance-process.ts', here).pathname,
    [dir, issuer, JSON.stringify({ port, env })],
    {
      execArgv: [
        '--experimental-transform-types',
        '--no-warnings',
        '--import',
        new URL('ts-resolve.mjs', here).href,
      ],
      // V8's compile cache (Node 22.1+) spares restarts and later runs part of loading the sources.
      env: { NODE_COMPILE_CACHE: COMPILE_CACHE, ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { url: string }).url));
    child.once('exit', (code, signal) =>
      reject(new Error(`a Latchkey instance on port ${port} exited before listening (${code ?? signal})`)),
    );
  });
  return { child, url };
}

/** Ends a child process: gracefully when it can, kill -9 after STOP_GRACE_MS. */
function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.send('stop');
    else child.kill('SIGKILL');
  });
}

/** A free port on 127.0.0.1 (each instance keeps its port across restarts). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) are the front's own business, not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function forwardedHeaders(headers: IncomingMessage['headers']): IncomingMessage['headers'] {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name) && name !== INSTANCE_HEADER),
  );
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const size = options.size ?? 3;
  const instances: RunningInstance[] = [];
  const answers: Answer[] = [];
  let target: number | 'round-robin' = 'round-robin';
  let turn = 0;

  const choose = (header: string | string[] | undefined): number | undefined => {
    if (typeof header === 'string') return Number(header);
    if (target !== 'round-robin') return target;
    const up = instances.filter((instance) => instance.up);
    if (up.length === 0) return undefined;
    return up[turn++ % up.length]!.index;
  };

  const front: Server = createServer((req, res) => {
    const index = choose(req.headers[INSTANCE_HEADER]);
    const instance = index === undefined ? undefined : instances[index];
    const record = (status: number, fromFront: boolean) =>
      answers.push({
        instance: index ?? -1,
        method: req.method ?? 'GET',
        path: (req.url ?? '/').split('?')[0]!,
        status,
        fromFront,
        at: Date.now(),
      });
    const unreachable = (reason: string) => {
      record(502, true);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(502, { [FRONT_ERROR_HEADER]: reason, 'content-type': 'text/plain' });
      res.end(`instance ${index} ${reason}`);
    };
    if (!instance?.up) {
      req.resume();
      unreachable('down');
      return;
    }
    const upstream = request(
      {
        host: '127.0.0.1',
        port: instance.port,
        method: req.method,
        path: req.url,
        headers: forwardedHeaders(req.headers),
        agent: instance.agent,
      },
      (answer) => {
        record(answer.statusCode!, false);
        res.writeHead(answer.statusCode!, {
          ...forwardedHeaders(answer.headers),
          [INSTANCE_HEADER]: String(instance.index),
        });
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    // The instance died with the request in it (kill -9), or refused the connection.
    upstream.on('error', () => unreachable('dropped the request'));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;

  const dir = mkdtempSync(join(tmpdir(), 'latchkey-cluster-'));
  const databases = new TestDatabases();
  const env: Record<string, string> = {
    ISSUER: issuer,
    OUTBOUND_ALLOW_PRIVATE: 'true',
    ...options.env,
  };
  if (options.kind === 'postgres') {
    env.DATABASE_URL = await databases.create();
    env.DATABASE_POOL_SIZE = String(POOL_SIZE);
    env.LATCHKEY_MASTER_KEY = randomBytes(32).toString('base64');
  }
  // The admin first: it creates the schema (or migrates), the keys and the built-in APIs, so that
  // the instances start on a store that is ready, as they would after a deployment's first start.
  const admin = await startLatchkey({ dir, env });
  const processEnv = { ...env, LOG_LEVEL: 'silent' };

  try {
    const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
    const started = await Promise.all(ports.map((port) => forkInstance(dir, issuer, port, processEnv)));
    started.forEach(({ child, url }, index) =>
      instances.push({
        index,
        port: ports[index]!,
        url,
        child,
        up: true,
        agent: new Agent({ keepAlive: true }),
      }),
    );
  } catch (error) {
    await admin.close();
    await databases.dropAll();
    front.close();
    throw error;
  }

  const frontServer: TestServer = {
    url: issuer,
    dir,
    latchkey: admin.latchkey,
    server: front,
    close: () => cluster.stop(),
  };

  const cluster: Cluster = {
    kind: options.kind,
    issuer,
    front: frontServer,
    get instances() {
      return instances.map(({ index, url, port, up, child }) => ({ index, url, port, up, pid: child?.pid }));
    },
    answers,
    clearAnswers: () => void answers.splice(0),
    route(next) {
      target = next;
    },
    async kill(index) {
      const instance = instances[index]!;
      const child = instance.child;
      instance.up = false;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
      instance.child = undefined;
      instance.agent.destroy();
      instance.agent = new Agent({ keepAlive: true });
    },
    async restart(index) {
      const instance = instances[index]!;
      if (instance.up) throw new Error(`instance ${index} is running`);
      const { child } = await forkInstance(dir, issuer, instance.port, processEnv);
      instance.child = child;
      instance.up = true;
    },
    async stop() {
      for (const instance of instances) instance.up = false;
      await Promise.all(instances.map((instance) => stopChild(instance.child)));
      for (const instance of instances) instance.agent.destroy();
      front.closeAllConnections();
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await admin.close();
      await databases.dropAll();
    },
  };
  return cluster;
}
