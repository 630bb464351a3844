// Entry point of a bench server child process (forked by ./child-process.ts): boots the server
// named in argv[2] (a JSON ServerSpec), reports its URL over IPC, then takes profile and stop
// requests. The server runs in its own process so that it never shares an event loop with the
// load generator.
import { applyHeapSettings } from '../src/http/memory-settings.js';
import { CpuProfiler } from './cpu-profiler.js';
import { startHelloServer } from './hello-server.js';
import type { FromChild, ServerSpec, ToChild } from './ipc.js';
import { startLatchkeyBench } from './latchkey-server.js';
import { startPassthroughBench } from './passthrough-server.js';
import { startReferenceBench } from './reference-server.js';
import { startUpstreamBench } from './upstream-server.js';

function send(message: FromChild): void {
  process.send?.(message);
}

async function boot(spec: ServerSpec) {
  switch (spec.kind) {
    case 'latchkey': {
      const server = await startLatchkeyBench({
        growthRows: spec.growthRows,
        ...(spec.postgresUrl ? { postgresUrl: spec.postgresUrl } : {}),
      });
      send({ type: 'ready', url: server.url, fixtures: server.fixtures, seeded: server.seeded });
      return server;
    }
    case 'reference': {
      const server = await startReferenceBench();
      send({ type: 'ready', url: server.url, fixtures: server.fixtures });
      return server;
    }
    case 'hello': {
      const server = await startHelloServer();
      send({ type: 'ready', url: server.url });
      return server;
    }
    case 'upstream': {
      const server = await startUpstreamBench();
      send({ type: 'ready', url: server.url });
      return server;
    }
    case 'passthrough': {
      const server = await startPassthroughBench(spec.upstream);
      send({ type: 'ready', url: server.url });
      return server;
    }
  }
}

async function main(): Promise<void> {
  // Every bench server runs with the heap settings of a Latchkey server (BenchChild.start passes
  // the command-line part), so that comparisons and memory figures are those of a deployment.
  applyHeapSettings();
  if (!process.send) throw new Error('bench/server.js is started by the bench runner (child_process.fork)');
  const spec = JSON.parse(process.argv[2] ?? '') as ServerSpec;
  const server = await boot(spec);
  const profiler = new CpuProfiler();
  process.on('message', (message: ToChild) => {
    const handle = async () => {
      switch (message.type) {
        case 'profile-start':
          return profiler.start();
        case 'cpu-usage': {
          const { user, system } = process.cpuUsage();
          return send({ type: 'cpu-usage', micros: user + system });
        }
        case 'memory':
          return send({ type: 'memory', rss: [process.memoryUsage.rss()] });
        case 'profile-stop':
          await profiler.stop(message.path);
          return send({ type: 'profile-saved', path: message.path });
        case 'stop':
          await server.close();
          process.exit(0);
      }
    };
    handle().catch((error: unknown) => send({ type: 'failed', message: String(error) }));
  });
  // The runner going away (even killed) must not leave a server behind.
  process.on('disconnect', () => process.exit(0));
}

main().catch((error: unknown) => {
  send({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
  process.disconnect?.();
});
