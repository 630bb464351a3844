// CPU profiles of a bench server, taken in the server's own process through the inspector (the
// same V8 sampling profiler as `node --cpu-prof`), started and stopped around one scenario's load
// so that the profile holds that scenario only. summarizeProfile() reads one back: the functions
// with the most self time.
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';

export class CpuProfiler {
  #session: Session | undefined;

  async start(): Promise<void> {
    if (this.#session) return;
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    this.#session = session;
  }

  /** Stops profiling and writes the profile (`.cpuprofile`, loadable in Chrome DevTools) to `path`. */
  async stop(path: string): Promise<void> {
    const session = this.#session;
    if (!session) throw new Error('the profiler is not running');
    this.#session = undefined;
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    writeFileSync(path, JSON.stringify(profile));
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  /** The caller that accounts for most of this self time (natives have no place of their own). */
  caller: string;
  ms: number;
  /** Share of the busy (non-idle) time. */
  percent: number;
}

export interface ProfileDigest {
  /** Milliseconds of non-idle samples. */
  busyMs: number;
  /** The functions with the most self time. */
  functions: SelfTime[];
  /** Self time by component (package, Latchkey area, Node subsystem); natives count for their caller. */
  components: { component: string; ms: number; percent: number }[];
}

const VM_STATES = new Set(['(garbage collector)', '(program)', '(root)']);

/** Reads a `.cpuprofile` back and digests it. */
export function summarizeProfile(path: string, top = 15): ProfileDigest {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node);
  const frame = (node: ProfileNode | undefined) => {
    if (!node) return '';
    const { functionName, url, lineNumber } = node.callFrame;
    return `${functionName || '(anonymous)'}${url ? ` ${shortPath(url)}:${lineNumber + 1}` : ''}`;
  };
  const componentOf = (node: ProfileNode | undefined): string => {
    for (let current = node; current; current = parents.get(current.id)) {
      const { functionName, url } = current.callFrame;
      if (url) return component(url);
      if (VM_STATES.has(functionName)) return functionName;
    }
    return '(native)';
  };
  const byFunction = new Map<
    string,
    { name: string; where: string; us: number; callers: Map<string, number> }
  >();
  const byComponent = new Map<string, number>();
  let busyUs = 0;
  profile.samples.forEach((id, index) => {
    const node = nodes.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') return;
    // A sample's time is the gap to the next one.
    const us = profile.timeDeltas[index + 1] ?? 0;
    busyUs += us;
    const where = url ? `${shortPath(url)}:${lineNumber + 1}` : '';
    const key = `${functionName}@${where}`;
    const entry = byFunction.get(key) ?? {
      name: functionName || '(anonymous)',
      where,
      us: 0,
      callers: new Map<string, number>(),
    };
    entry.us += us;
    const caller = frame(parents.get(id));
    entry.callers.set(caller, (entry.callers.get(caller) ?? 0) + us);
    byFunction.set(key, entry);
    const part = componentOf(node);
    byComponent.set(part, (byComponent.get(part) ?? 0) + us);
  });
  const share = (us: number) => (busyUs ? Math.round((us / busyUs) * 1000) / 10 : 0);
  const functions = [...byFunction.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((entry) => ({
      name: entry.name,
      where: entry.where,
      caller: [...entry.callers.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '',
      ms: Math.round(entry.us / 1000),
      percent: share(entry.us),
    }));
  const components = [...byComponent.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => ({ component: name, ms: Math.round(us / 1000), percent: share(us) }));
  return { busyMs: Math.round(busyUs / 1000), functions, components };
}

function shortPath(url: string): string {
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) return path.slice(modules + 'node_modules/'.length);
  const dist = path.indexOf('/dist/');
  return dist >= 0 ? path.slice(dist + 1) : path;
}

/** `oidc-provider`, `latchkey src/store`, `node:crypto` … for a script URL. */
function component(url: string): string {
  const path = shortPath(url);
  if (url.includes('node_modules/')) {
    const [scope, name] = path.split('/');
    return scope!.startsWith('@') ? `${scope}/${name}` : scope!;
  }
  const area = /^dist\/(src|bench)\/([^/]+)/.exec(path);
  if (area) return area[1] === 'src' ? `latchkey src/${area[2]!.replace(/\.js$/, '')}` : 'bench';
  const internal = /^node:(?:internal\/)?([a-z_]+)/.exec(path);
  if (internal) {
    const name = internal[1]!.replace(/^_/, '');
    return `node:${/^http|^stream|^net|^events/.test(name) ? name.replace(/_.*/, '') : name}`;
  }
  return path;
}
