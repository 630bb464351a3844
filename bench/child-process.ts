// The runner's handle on a bench server child process: fork, wait until it listens, profile it,
// stop it. Every wait is bounded.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchFixtures } from './fixtures.js';
import type { FromChild, ServerSpec, ToChild } from './ipc.js';
import { serverEnvironment, withServerNodeOptions } from '../src/http/memory-settings.js';

const SERVER_SCRIPT = fileURLToPath(new URL('./server.js', import.meta.url));
const BOOT_TIMEOUT_MS = 10 * 60_000;
const REPLY_TIMEOUT_MS = 60_000;

export class BenchChild {
  readonly url: string;
  readonly fixtures: BenchFixtures | undefined;
  readonly seeded: { rows: number; ms: number } | undefined;
  readonly #child: ChildProcess;

  private constructor(child: ChildProcess, ready: Extract<FromChild, { type: 'ready' }>) {
    this.#child = child;
    this.url = ready.url;
    this.fixtures = ready.fixtures;
    this.seeded = ready.seeded;
  }

  /**
   * Forks dist/bench/server.js for `spec` and resolves once it listens, with the node options and
   * environment a Latchkey server starts with (its memory settings).
   */
  static start(spec: ServerSpec): Promise<BenchChild> {
    return BenchChild.fork(SERVER_SCRIPT, [JSON.stringify(spec)], {
      execArgv: withServerNodeOptions(process.execArgv),
      env: serverEnvironment(process.env),
    });
  }

  /**
   * Forks any script that speaks this IPC protocol (it sends 'ready' once it listens, answers
   * 'cpu-usage' and 'stop'): dist/bench/server.js, or dist/src/main.js with ./cluster-probe.js
   * preloaded (`execArgv`).
   */
  static async fork(
    script: string,
    args: string[],
    options: { env?: NodeJS.ProcessEnv; execArgv?: string[] } = {},
  ): Promise<BenchChild> {
    const child = fork(script, args, {
      env: { ...process.env, NODE_ENV: 'production', ...options.env },
      ...(options.execArgv ? { execArgv: options.execArgv } : {}),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    try {
      const ready = await nextMessage(child, 'ready', BOOT_TIMEOUT_MS);
      return new BenchChild(child, ready);
    } catch (error) {
      child.kill();
      throw error;
    }
  }

  /** The child's process id (the primary's, for a cluster). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The bench fixtures (every server but the hello-world one has them). */
  get seededFixtures(): BenchFixtures {
    if (!this.fixtures) throw new Error('this bench server has no fixtures');
    return this.fixtures;
  }

  startProfile(): void {
    this.#send({ type: 'profile-start' });
  }

  async stopProfile(path: string): Promise<string> {
    const saved = nextMessage(this.#child, 'profile-saved', REPLY_TIMEOUT_MS);
    this.#send({ type: 'profile-stop', path });
    return (await saved).path;
  }

  /** CPU time the server process has used so far (µs, all threads). */
  async cpuMicros(): Promise<number> {
    const usage = nextMessage(this.#child, 'cpu-usage', REPLY_TIMEOUT_MS);
    this.#send({ type: 'cpu-usage' });
    return (await usage).micros;
  }

  /** Resident set size (bytes) of each process serving: the child first, then any workers of its. */
  async memory(): Promise<number[]> {
    const reply = nextMessage(this.#child, 'memory', REPLY_TIMEOUT_MS);
    this.#send({ type: 'memory' });
    return (await reply).rss;
  }

  /** Asks the child to close and exit; kills it if it has not within a few seconds. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#send({ type: 'stop' });
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  #send(message: ToChild): void {
    if (this.#child.connected) this.#child.send(message);
  }
}

function nextMessage<T extends FromChild['type']>(
  child: ChildProcess,
  type: T,
  timeoutMs: number,
): Promise<Extract<FromChild, { type: T }>> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: FromChild) => {
      if (message.type === type) {
        cleanup();
        resolve(message as Extract<FromChild, { type: T }>);
      } else if (message.type === 'failed') {
        cleanup();
        reject(new Error(`bench server failed: ${message.message}`));
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`bench server exited (code ${code}) before '${type}'`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`bench server sent no '${type}' within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
