// /metrics in cluster mode: `WORKERS=2` (the real entry point, src/main.ts) answers a scrape for the
// whole process group, whichever worker the connection reaches, not for that worker alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';

const TOKEN = 'cluster-metrics-token-0123456789';
const here = new URL('.', import.meta.url);

let primary: ChildProcess;
let url: string;
let dir: string;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A GET on a connection of its own, so that the primary hands each to the next worker in turn. */
function fetchAlone(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(`${url}${path}`, { agent: false, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body }));
    }).on('error', reject);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'latchkey-cluster-metrics-'));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  primary = spawn(
    process.execPath,
    [
      '--experimental-transform-types',
      '--no-warnings',
      '--import',
      new URL('support/ts-resolve.mjs', here).href,
      new URL('../src/main.ts', here).pathname,
    ],
    {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        WORKERS: '2',
        PORT: String(port),
        HOST: '127.0.0.1',
        ISSUER: url,
        DATABASE_URL: `sqlite:${join(dir, 'latchkey.db')}`,
        METRICS_TOKEN: TOKEN,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // Each worker logs one line when it listens.
  await new Promise<void>((resolve, reject) => {
    let listening = 0;
    let buffered = '';
    primary.stdout!.setEncoding('utf8');
    primary.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) if (line.includes('"latchkey listening"') && ++listening === 2) resolve();
    });
    primary.once('exit', (code) => reject(new Error(`the cluster exited (${code}) before it listened`)));
  });
}, 60_000);

afterAll(async () => {
  if (primary && primary.exitCode === null) {
    const exited = new Promise((resolve) => primary.once('exit', resolve));
    primary.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The count of GET /healthz answers with 200 in a Prometheus text. */
function healthzCount(text: string): number {
  const match =
    /^latchkey_http_request_duration_seconds_count\{route="\/healthz",method="GET",status="200"\} (\d+)$/m.exec(
      text,
    );
  return match ? Number(match[1]) : 0;
}

test('every scrape counts the requests of both workers', async () => {
  for (let index = 0; index < 20; index++) expect((await fetchAlone('/healthz')).status).toBe(200);
  // Scrapes reach one worker and then the other: each must see all 20, not its own share.
  for (let scrape = 0; scrape < 4; scrape++) {
    const metrics = await fetchAlone('/metrics', { authorization: `Bearer ${TOKEN}` });
    expect(metrics.status).toBe(200);
    expect(healthzCount(metrics.body)).toBe(20);
    expect(metrics.body).toContain('latchkey_process_cpu_user_seconds_total');
  }
  expect((await fetchAlone('/metrics')).status).toBe(401);
}, 30_000);
