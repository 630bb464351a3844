// The machine's ceiling for one HTTP server process: node:http answering "hello world", loaded
// with the same autocannon settings as the scenarios.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startHelloServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_request, response) => {
    response.setHeader('content-type', 'text/plain');
    response.end('hello world');
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
