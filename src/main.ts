// `npm start`: reads the configuration, opens the store and serves Latchkey.
import cluster from 'node:cluster';
import { pino, type Logger } from 'pino';
import { argon2BuildProblem, describeArgon2Build } from './authorization/argon2-build.js';
import { serveClusterMetrics } from './http/cluster-metrics.js';
import { ConfigError, loadConfig } from './config/index.js';
import { applyHeapSettings, serverEnvironment, withServerNodeOptions } from './http/memory-settings.js';
import { createLatchkeyApp, type LatchkeyAppOptions } from './http/latchkey-app.js';

/** Cluster mode: the primary only forks workers (sharing the port) and replaces any that die. */
function runPrimary(workers: number, logger: Logger) {
  let stopping = false;
  // A scrape of /metrics reaches one worker, which asks here for the whole group's metrics.
  serveClusterMetrics();
  // Workers start with the server's memory settings even when the primary was started without them.
  cluster.setupPrimary({ execArgv: withServerNodeOptions(process.execArgv) });
  const fork = () => cluster.fork(serverEnvironment(process.env));
  for (let index = 0; index < workers; index++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.error({ worker: worker.process.pid, code, signal }, 'worker died; starting another');
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
    setTimeout(() => process.exit(0), 11_000).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  logger.info({ workers }, 'latchkey cluster started');
}

async function main() {
  applyHeapSettings();
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`latchkey: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const argon2Problem = argon2BuildProblem();
  if (argon2Problem) {
    process.stderr.write(`latchkey: ${argon2Problem}\n`);
    process.exit(1);
  }
  const logger = pino({ level: config.logLevel, base: { service: 'latchkey' } });
  // The same factory a Node app mounts Latchkey with (./http/latchkey-app.ts).
  const start = (options: Partial<LatchkeyAppOptions> = {}) =>
    createLatchkeyApp({ config, logger, ...options }).catch((error: unknown) => {
      process.stderr.write(`latchkey: ${(error as Error).message.split('\n')[0]}\n`);
      process.exit(1);
    });
  if (config.workers > 1 && cluster.isPrimary) {
    // First-start work (keys, cookie keys, built-in APIs) once, here, then the workers.
    await (await start({ keyReloadIntervalMs: 0 })).close();
    runPrimary(config.workers, logger);
    return;
  }
  const latchkey = await start({ clusterMetrics: cluster.isWorker });
  const store = latchkey.store;
  const server = latchkey.app.listen(config.port, config.host, () => {
    logger.info(
      {
        issuer: config.issuer,
        host: config.host,
        port: config.port,
        store: store.kind,
        argon2: describeArgon2Build(),
      },
      'latchkey listening',
    );
  });
  // A port in use or not ours to take: one line that names the setting, not an unhandled 'error'.
  server.once('error', (error: NodeJS.ErrnoException) => {
    const why = error.code === 'EADDRINUSE' ? 'address already in use' : (error.code ?? error.message);
    process.stderr.write(`latchkey: cannot listen on ${config.host}:${config.port} (HOST, PORT): ${why}\n`);
    latchkey.close().finally(() => process.exit(1));
  });
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    server.close(() => {
      latchkey.close().finally(() => process.exit(0));
    });
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`latchkey: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
