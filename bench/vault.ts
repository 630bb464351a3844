// Scenario (6), the token vault: a Latchkey (the bench's usual child) and a small upstream OIDC
// provider with a bearer-protected API (./upstream-server.ts, a child of its own). An app gets a
// client_credentials token for the built-in vault API, creates an `oidc` integration for the
// upstream and connects one end user through the real connect flow (vault → upstream /authorize →
// vault callback → code exchange), all over HTTP; and a bare pass-through proxy to the same
// upstream (./passthrough-server.ts), the ceiling of any proxy on this machine. Then, every call
// measured through HTTP:
//  (a) the token API, POST /vault/connections/<key>/<end user>/token, on a fresh connection (no
//      refresh: the upstream's token lasts a day);
//  (b) the proxy, GET /vault/proxy/<key>/<end user>/api/hello, against the upstream's /api/hello
//      called directly with the same upstream token: first both saturated with the same connections
//      (the throughput ratio), then both at the same fixed rate, well below the proxy's capacity
//      (the latency the hop adds, without the queue a saturated closed loop builds); the
//      pass-through proxy in both rotations, to tell the cost of any hop from Latchkey's own;
//  (c) the proxy against an API that takes UPSTREAM_SLOW_MS to answer (/api/slow), as APIs across a
//      network do, with SLOW_CONNECTIONS connections: the throughput an app keeps through the vault
//      when the upstream, not the hop, sets the pace;
//  (d) the same against an API whose answer takes from half to one and a half times as long
//      (/api/varied), as a real API's does: with a fixed delay, the calls of all the connections
//      come back together and leave together, in bursts that one proxy process serves one call at
//      a time; a delay that varies spreads them out.
import { BenchChild } from './child-process.js';
import { BenchBrowser, discover, httpRequest, tokenRequest } from './http-client.js';
import { measureInterleaved, type InterleaveSettings, type Subject } from './interleave.js';
import { runPaced, type LoadRequest, type Measurement } from './load.js';
import { VAULT_SCOPE, type BenchFixtures } from './fixtures.js';
import type { Profiles } from './profiles.js';
import { checkOnce } from './scenarios.js';
import {
  UPSTREAM_API_PATH,
  UPSTREAM_CLIENT,
  UPSTREAM_SLOW_API_PATH,
  UPSTREAM_VARIED_API_PATH,
} from './upstream-server.js';

export const VAULT_INTEGRATION = 'bench';
export const VAULT_END_USER = 'bench-user';
/** Never contacted: the connect flow ends with the redirect to it. */
const RETURN_URL = 'http://127.0.0.1:9/back';
/** The paced run's rate, as a share of the proxy's saturated rate (and within these bounds). */
const PACED_SHARE = 0.25;
const PACED_MIN_RATE = 20;
const PACED_MAX_RATE = 1000;
const PACED_MIN_SECONDS = 0.5;
/** Connections for (c) and (d): enough requests in flight that a 20 ms API allows a few thousand a second. */
export const SLOW_CONNECTIONS = 50;

export interface VaultSetup extends VaultRequests {
  latchkey: BenchChild;
  upstream: BenchChild;
  /** The ceiling: a bare node:http → undici pass-through proxy to the upstream. */
  passthrough: BenchChild;
  stop(): Promise<void>;
}

export interface VaultResult {
  token: Measurement;
  proxy: Measurement;
  direct: Measurement;
  /** The bare pass-through proxy, in the same interleaved run as `proxy` and `direct`. */
  passthrough: Measurement;
  /** Both sides at `rate` requests per second: `share` of the proxy's saturated rate. */
  paced: { rate: number; share: number; proxy: Measurement; direct: Measurement; passthrough: Measurement };
  /** (c): /api/slow through the proxy and directly, SLOW_CONNECTIONS connections each. */
  slow: { proxy: Measurement; direct: Measurement };
  /** (d): /api/varied, likewise. */
  varied: { proxy: Measurement; direct: Measurement };
}

async function call(
  url: string,
  token: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await httpRequest(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(response.text) as Record<string, unknown>;
  } catch {
    json = { text: response.text.slice(0, 200) };
  }
  if (response.status < 200 || response.status >= 300) {
    throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(json).slice(0, 300)}`);
  }
  return { status: response.status, json };
}

/** What the scenario sends, once the end user is connected. */
export interface VaultRequests {
  /** The app's access token for the vault API (a JWT). */
  appToken: string;
  /** The connection's upstream access token, as the token API hands it out. */
  upstreamToken: string;
  /** To Latchkey: the token API. */
  tokenRequest: LoadRequest;
  /** To Latchkey: the upstream's /api/hello through the proxy. */
  proxyRequest: LoadRequest;
  /** To the upstream (or the pass-through): /api/hello with the upstream token. */
  directRequest: LoadRequest;
  /** As proxyRequest and directRequest, for the upstream's /api/slow and /api/varied. */
  slow: { proxy: LoadRequest; direct: LoadRequest };
  varied: { proxy: LoadRequest; direct: LoadRequest };
}

/**
 * As an app would, over HTTP only: a client_credentials token for the vault API, an `oidc`
 * integration for the upstream, the bench end user connected through the connect flow (vault →
 * upstream /authorize → vault callback → code exchange), and the connection's first token.
 */
export async function connectVault(
  latchkey: { url: string; fixtures: BenchFixtures },
  upstreamUrl: string,
): Promise<VaultRequests> {
  const { url, fixtures } = latchkey;
  if (!fixtures.vaultApp) throw new Error('this Latchkey has no vault app');
  const appToken = (
    await tokenRequest(await discover(url), fixtures.vaultApp, {
      grant_type: 'client_credentials',
      resource: `${url}/vault`,
      scope: VAULT_SCOPE,
    })
  ).access_token;
  await call(url, appToken, 'POST', '/vault/integrations', {
    key: VAULT_INTEGRATION,
    provider: 'oidc',
    issuer: upstreamUrl,
    client_id: UPSTREAM_CLIENT.clientId,
    client_secret: UPSTREAM_CLIENT.clientSecret,
    scopes: ['hello'],
  });
  const session = await call(url, appToken, 'POST', '/vault/connect-sessions', {
    integration: VAULT_INTEGRATION,
    end_user_id: VAULT_END_USER,
    return_url: RETURN_URL,
  });
  const flow = await new BenchBrowser(url, upstreamUrl).navigate(String(session.json.url));
  if (!('redirect' in flow)) {
    throw new Error(
      `the connect flow stopped at ${flow.url}: ${flow.page.status} ${flow.page.text.slice(0, 200)}`,
    );
  }
  if (
    !flow.redirect.startsWith(RETURN_URL) ||
    new URL(flow.redirect).searchParams.get('status') !== 'connected'
  ) {
    throw new Error(`the connect flow ended at ${flow.redirect}`);
  }

  const connection = `${encodeURIComponent(VAULT_INTEGRATION)}/${encodeURIComponent(VAULT_END_USER)}`;
  const tokenPath = `/vault/connections/${connection}/token`;
  const upstreamToken = String((await call(url, appToken, 'POST', tokenPath, {})).json.access_token);
  // The upstream API at `path`, through the proxy and called directly with the connection's token.
  const api = (path: string): { proxy: LoadRequest; direct: LoadRequest } => ({
    proxy: {
      method: 'GET',
      path: `/vault/proxy/${connection}${path}`,
      headers: { authorization: `Bearer ${appToken}` },
    },
    direct: { method: 'GET', path, headers: { authorization: `Bearer ${upstreamToken}` } },
  });
  return {
    appToken,
    upstreamToken,
    tokenRequest: {
      method: 'POST',
      path: tokenPath,
      headers: { authorization: `Bearer ${appToken}`, 'content-type': 'application/json' },
      body: '{}',
    },
    proxyRequest: api(UPSTREAM_API_PATH).proxy,
    directRequest: api(UPSTREAM_API_PATH).direct,
    slow: api(UPSTREAM_SLOW_API_PATH),
    varied: api(UPSTREAM_VARIED_API_PATH),
  };
}

/** Boots Latchkey, the upstream and the pass-through, and connects the bench end user. */
export async function startVaultServers(): Promise<VaultSetup> {
  const upstreamStarted = BenchChild.start({ kind: 'upstream' });
  const started = await Promise.allSettled([
    BenchChild.start({ kind: 'latchkey', growthRows: 0 }),
    upstreamStarted,
    upstreamStarted.then((upstream) => BenchChild.start({ kind: 'passthrough', upstream: upstream.url })),
  ]);
  const children = started.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  const stop = () => Promise.all(children.map((child) => child.stop())).then(() => undefined);
  try {
    const failed = started.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    const [latchkey, upstream, passthrough] = children as [BenchChild, BenchChild, BenchChild];
    const requests = await connectVault(
      { url: latchkey.url, fixtures: latchkey.seededFixtures },
      upstream.url,
    );
    return { latchkey, upstream, passthrough, ...requests, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export const expectToken = (text: string) =>
  (JSON.parse(text) as { access_token?: string }).access_token ? undefined : 'no access_token';
export const expectHello = (text: string) =>
  (JSON.parse(text) as { hello?: string }).hello === 'world' ? undefined : `unexpected answer: ${text}`;

/** (a) and (b), each side by side where there are two sides. */
export async function measureVault(
  setup: VaultSetup,
  settings: InterleaveSettings,
  profiles: Profiles,
): Promise<VaultResult> {
  const { latchkey, upstream, passthrough } = setup;
  // The same request as the direct one: the pass-through forwards its path and Authorization.
  const passthroughRequest: LoadRequest = { ...setup.directRequest };
  const checks: [string, LoadRequest, (text: string) => string | undefined][] = [
    [latchkey.url, setup.tokenRequest, expectToken],
    [latchkey.url, setup.proxyRequest, expectHello],
    [upstream.url, setup.directRequest, expectHello],
    [passthrough.url, passthroughRequest, expectHello],
    [latchkey.url, setup.slow.proxy, expectHello],
    [upstream.url, setup.slow.direct, expectHello],
    [latchkey.url, setup.varied.proxy, expectHello],
    [upstream.url, setup.varied.direct, expectHello],
  ];
  for (const [url, request, check] of checks) {
    const problem = await checkOnce(url, request, (response) => check(response.text));
    if (problem) throw new Error(`${request.method} ${request.path}: ${problem}`);
  }
  const proxied = (profile?: string): Subject => ({
    url: latchkey.url,
    request: setup.proxyRequest,
    cpuMicros: () => latchkey.cpuMicros(),
    memory: () => latchkey.memory(),
    ...(profile ? { profile: profiles.hook(latchkey, profile) } : {}),
  });
  const direct: Subject = {
    url: upstream.url,
    request: setup.directRequest,
    cpuMicros: () => upstream.cpuMicros(),
  };

  const [token] = await measureInterleaved(
    [
      {
        url: latchkey.url,
        request: setup.tokenRequest,
        cpuMicros: () => latchkey.cpuMicros(),
        memory: () => latchkey.memory(),
        profile: profiles.hook(latchkey, 'vault-token'),
      },
    ],
    settings,
  );
  profiles.count('vault-token', token);

  const bare: Subject = {
    url: passthrough.url,
    request: passthroughRequest,
    cpuMicros: () => passthrough.cpuMicros(),
  };
  const [proxy, directMeasured, passthroughMeasured] = await measureInterleaved(
    [proxied('vault-proxy'), direct, bare],
    settings,
  );
  profiles.count('vault-proxy', proxy);

  const rate = Math.round(Math.min(PACED_MAX_RATE, Math.max(PACED_MIN_RATE, proxy!.rps * PACED_SHARE)));
  const [pacedProxy, pacedDirect, pacedPassthrough] = await measureInterleaved([proxied(), direct, bare], {
    ...settings,
    // A few hundred requests a second: half the time still gives p50 and p99 enough samples.
    seconds: Math.max(PACED_MIN_SECONDS, settings.seconds / 2),
    // Warm already: the saturated run just loaded the same servers with the same requests.
    warmupSeconds: 0,
    load: (url, request, seconds) => runPaced(url, request, { rate, seconds }),
  });
  // (c) and (d): the proxy against an API that takes its time, SLOW_CONNECTIONS connections.
  const remote = async (requests: { proxy: LoadRequest; direct: LoadRequest }) => {
    const [proxied, called] = await measureInterleaved(
      [
        {
          url: latchkey.url,
          request: requests.proxy,
          cpuMicros: () => latchkey.cpuMicros(),
          memory: () => latchkey.memory(),
        },
        { url: upstream.url, request: requests.direct, cpuMicros: () => upstream.cpuMicros() },
      ],
      { ...settings, connections: SLOW_CONNECTIONS },
    );
    return { proxy: proxied!, direct: called! };
  };
  const slow = await remote(setup.slow);
  const varied = await remote(setup.varied);
  return {
    token: token!,
    proxy: proxy!,
    direct: directMeasured!,
    passthrough: passthroughMeasured!,
    paced: {
      rate,
      share: PACED_SHARE,
      proxy: pacedProxy!,
      direct: pacedDirect!,
      passthrough: pacedPassthrough!,
    },
    slow,
    varied,
  };
}
