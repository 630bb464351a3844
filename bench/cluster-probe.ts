// Preloaded (`node --import`) into `node dist/src/main.js` when the bench runs Latchkey as it is
// deployed (the cluster scenario, ./cluster.ts), so that the unmodified server speaks the bench's
// IPC protocol (./ipc.ts): 'ready' once every worker listens on PORT (cluster mode: the primary's
// 'listening' events; one process: its own server's), 'cpu-usage' summed over the primary and all
// its workers, 'memory' as the RSS of each of them, and 'stop' as a SIGTERM, the server's own
// graceful shutdown. cluster.fork() passes the preload on to the workers, where it only answers the
// primary's CPU time and memory requests.
import cluster, { type Worker } from 'node:cluster';
import { Server } from 'node:net';
import type { FromChild, ToChild } from './ipc.js';

const CPU_REQUEST = 'latchkey-bench-cpu';
const MEMORY_REQUEST = 'latchkey-bench-memory';
const WORKER_REPLY_TIMEOUT_MS = 5000;

const send = (message: FromChild) => process.send?.(message);
const ownCpu = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** Asks a worker for one figure (its CPU time, or its RSS); 0 when it does not answer in time. */
function askWorker(worker: Worker, request: string): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (message: { type?: string; value?: number }) => {
      if (message?.type !== request) return;
      clearTimeout(timer);
      worker.off('message', onMessage);
      resolve(message.value ?? 0);
    };
    const timer = setTimeout(() => {
      worker.off('message', onMessage);
      resolve(0);
    }, WORKER_REPLY_TIMEOUT_MS);
    worker.on('message', onMessage);
    worker.send({ type: request });
  });
}

const liveWorkers = () => Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => !!worker);

async function treeCpu(): Promise<number> {
  const replies = await Promise.all(liveWorkers().map((worker) => askWorker(worker, CPU_REQUEST)));
  return replies.reduce((sum, micros) => sum + micros, ownCpu());
}

/** RSS of the primary (or the one process), then of each worker. */
async function treeMemory(): Promise<number[]> {
  const workers = await Promise.all(liveWorkers().map((worker) => askWorker(worker, MEMORY_REQUEST)));
  return [process.memoryUsage.rss(), ...workers];
}

if (cluster.isWorker) {
  process.on('message', (message: { type?: string }) => {
    if (message?.type === CPU_REQUEST) process.send?.({ type: CPU_REQUEST, value: ownCpu() });
    if (message?.type === MEMORY_REQUEST)
      process.send?.({ type: MEMORY_REQUEST, value: process.memoryUsage.rss() });
  });
} else if (process.send) {
  const port = Number(process.env.PORT);
  const workers = Number(process.env.WORKERS ?? '1');
  const url = process.env.ISSUER ?? `http://127.0.0.1:${port}`;
  let listening = 0;
  const counted = (address: { port?: number } | string | null) => {
    if (typeof address === 'object' && address?.port === port && ++listening === workers) {
      send({ type: 'ready', url });
    }
  };
  if (workers > 1) {
    cluster.on('listening', (_worker, address) => counted(address));
  } else {
    // main.js with WORKERS=1 serves from this process: watch its own server start listening.
    const listen = Server.prototype.listen;
    Server.prototype.listen = function (this: Server, ...args: unknown[]) {
      this.once('listening', () => counted(this.address()));
      return (listen as (...rest: unknown[]) => Server).apply(this, args);
    } as typeof Server.prototype.listen;
  }
  process.on('message', (message: ToChild) => {
    switch (message.type) {
      case 'cpu-usage':
        treeCpu().then(
          (micros) => send({ type: 'cpu-usage', micros }),
          (error: unknown) => send({ type: 'failed', message: String(error) }),
        );
        return;
      case 'memory':
        treeMemory().then(
          (rss) => send({ type: 'memory', rss }),
          (error: unknown) => send({ type: 'failed', message: String(error) }),
        );
        return;
      case 'stop':
        process.kill(process.pid, 'SIGTERM');
        return;
      default:
        send({ type: 'failed', message: `the cluster probe does not do ${message.type}` });
    }
  });
  // The runner going away (even killed) must not leave a server behind.
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
