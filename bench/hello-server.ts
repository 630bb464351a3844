// The machine's ceiling for one HTTP server process: node:http answering "hello world", loaded
// with the same autocannon settings as the scenarios.
import { createServer } from 'node:http';
import { closeServer, listenOnLoopback } from './loopback.js';

export async function startHelloServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_request, response) => {
    response.setHeader('content-type', 'text/plain');
    response.end('hello world');
  });
  const url = await listenOnLoopback(server);
  return { url, close: () => closeServer(server) };
}
