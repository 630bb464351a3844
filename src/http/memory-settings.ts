// How much memory a server process keeps, chosen by measurement (bench/README.md, "Memory"). Left
// to themselves on a machine with gigabytes of RAM, V8 sizes the young generation at 64 MB per
// semi-space (128 MB resident under load) and lets the old generation grow to up to four times what
// survived its last full collection (more on a busy machine, where its collections run slower), and
// glibc keeps a malloc arena per thread, each holding on to what that thread freed (argon2id's 7 MiB
// per verification, V8's compiler zones). One process held 370 to 424 MB under client-credentials
// load while less than 50 MB of its heap was live; with these settings it holds 200 to 235 MB, for
// a few per cent more CPU time in the garbage collector.
import { setFlagsFromString } from 'node:v8';

/**
 * Node options a server process starts with. The young generation is sized when the heap is made,
 * so this only works on the command line (`npm start` and the Dockerfile pass it; cluster workers
 * get it from the primary): 16 MB semi-spaces, 32 MB of young generation.
 */
export const SERVER_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=16'];

/**
 * Environment a server process starts with (glibc reads it at start-up; other C libraries ignore
 * it): two malloc arenas shared by all threads instead of one per thread, so that memory one thread
 * freed serves the next allocation of another instead of staying resident in its own arena. The
 * Dockerfile sets it, and the cluster primary gives it to its workers; `npm start` cannot portably
 * (cmd.exe has no `VAR=value` prefix), so on Linux set it in the service's environment.
 */
export const SERVER_ENVIRONMENT: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/**
 * The old generation grows to twice what survived the last full collection before the next one,
 * instead of up to four times (more on a busy machine). V8 reads this at every collection, so
 * setting it at start-up takes effect. 1.5× saves another 15–30 MB but collects twice as often,
 * which cost up to a fifth more CPU per request on the fastest endpoints (introspection).
 */
const RUNTIME_V8_FLAGS: readonly string[] = ['--heap-growing-percent=100'];

/** Applies the settings that can be changed in a running process (the old generation's growth). */
export function applyHeapSettings(): void {
  for (const flag of RUNTIME_V8_FLAGS) setFlagsFromString(flag);
}

/** `execArgv` with SERVER_NODE_OPTIONS added where the same option is not already given. */
export function withServerNodeOptions(execArgv: readonly string[]): string[] {
  const given = (option: string) => {
    const name = option.split('=')[0]!;
    return execArgv.some((argument) => argument === name || argument.startsWith(`${name}=`));
  };
  return [...execArgv, ...SERVER_NODE_OPTIONS.filter((option) => !given(option))];
}

/** SERVER_ENVIRONMENT's variables that `env` does not set already (the operator's own win). */
export function serverEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(SERVER_ENVIRONMENT).filter(([name]) => env[name] === undefined));
}
