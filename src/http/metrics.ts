// Prometheus metrics (prom-client): process defaults, requests by route group and status, and vault
// events. Served at /metrics only when METRICS_TOKEN is set, to callers that present it.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Context, Next } from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VAULT_EVENTS, type VaultEvents } from '../vault/events.js';
import { clusterMetricsReader } from './cluster-metrics.js';

// Route groups by first path segment (and the vault's second). Anything else is "other": a label
// taken from the path as sent would let any client create series without end.
const GROUPS = new Set([
  '',
  '.well-known',
  'account',
  'assets',
  'auth',
  'backchannel',
  'device',
  'healthz',
  'interaction',
  'jwks',
  'me',
  'metrics',
  'request',
  'session',
  'token',
  'v1',
]);
const VAULT_GROUPS = new Set([
  'providers',
  'integrations',
  'connect-sessions',
  'connect',
  'callback',
  'connections',
  'proxy',
]);

/** A coarse label for a path: never ids, codes or tokens (they would explode cardinality, and leak). */
export function routeGroup(path: string): string {
  const [, first = '', second = ''] = path.split('/', 3);
  if (first === 'vault') return VAULT_GROUPS.has(second) ? `/vault/${second}` : '/vault/other';
  return GROUPS.has(first) ? `/${first}` : 'other';
}

export interface Metrics {
  middleware(ctx: Context, next: Next): Promise<void>;
  endpoint(ctx: Context, next: Next): Promise<void>;
  observeVault(events: VaultEvents): void;
}

export interface MetricsOptions {
  /** A cluster worker (WORKERS=n): /metrics answers for the whole process group (./cluster-metrics.ts). */
  cluster?: boolean;
}

export function createMetrics(token: string | undefined, options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'latchkey_' });
  const duration = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'HTTP request duration by route group, method and status',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const vaultEvents = new Counter({
    name: 'latchkey_vault_events_total',
    help: 'Vault connection events by name',
    labelNames: ['event'],
    registers: [registry],
  });
  const expected = token ? createHash('sha256').update(token).digest() : undefined;
  const render = options.cluster && expected ? clusterMetricsReader(registry) : () => registry.metrics();
  // One label object per route, method and status, made once: there are only a few dozen.
  const labelSets = new Map<string, { route: string; method: string; status: string }>();
  const labelsOf = (route: string, method: string, status: number) => {
    const key = `${route} ${method} ${status}`;
    let labels = labelSets.get(key);
    if (!labels) {
      labels = { route, method, status: String(status) };
      labelSets.set(key, labels);
    }
    return labels;
  };

  return {
    async middleware(ctx, next) {
      const started = performance.now();
      try {
        await next();
      } finally {
        duration.observe(
          labelsOf(routeGroup(ctx.path), ctx.method, ctx.status),
          (performance.now() - started) / 1000,
        );
      }
    },
    async endpoint(ctx, next) {
      if (ctx.path !== '/metrics' || !expected) return next();
      const presented = createHash('sha256')
        .update(/^Bearer (.+)$/.exec(ctx.get('authorization'))?.[1] ?? '')
        .digest();
      if (!timingSafeEqual(presented, expected)) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer realm="latchkey-metrics"');
        ctx.body = {
          error: 'invalid_token',
          error_description: 'metrics need the METRICS_TOKEN bearer token',
        };
        return;
      }
      ctx.type = registry.contentType;
      ctx.body = await render();
    },
    observeVault(events) {
      for (const name of VAULT_EVENTS) events.on(name, () => vaultEvents.inc({ event: name }));
    },
  };
}
