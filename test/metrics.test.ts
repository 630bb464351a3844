// /metrics: Prometheus text for the holder of METRICS_TOKEN, nothing for anyone else.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startLatchkey, type TestServer } from './support/latchkey.js';

const TOKEN = 'metrics-token-for-tests-0123456789';
let server: TestServer;

beforeAll(async () => {
  server = await startLatchkey({ env: { METRICS_TOKEN: TOKEN } });
});

afterAll(async () => {
  await server.close();
});

test('metrics need the token and count requests by route group, never by id', async () => {
  await fetch(`${server.url}/.well-known/openid-configuration`);
  await fetch(`${server.url}/interaction/some-secret-looking-uid`);
  // Unknown paths share one series, whatever their first segment: no series per path sent.
  await fetch(`${server.url}/made-up-path-one`);
  await fetch(`${server.url}/vault/made-up-two`);
  expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
  expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(
    401,
  );
  const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(response.status).toBe(200);
  const text = await response.text();
  expect(text).toContain(
    'latchkey_http_request_duration_seconds_count{route="/.well-known",method="GET",status="200"}',
  );
  expect(text).toContain('route="/interaction"');
  expect(text).not.toContain('some-secret-looking-uid');
  expect(text).toContain('route="other",method="GET",status="404"');
  expect(text).toContain('route="/vault/other"');
  expect(text).not.toMatch(/made-up/);
  expect(text).toContain('latchkey_process_cpu_user_seconds_total');
});

test('without METRICS_TOKEN there is no /metrics', async () => {
  const plain = await startLatchkey();
  try {
    expect((await fetch(`${plain.url}/metrics`)).status).toBe(404);
  } finally {
    await plain.close();
  }
});
