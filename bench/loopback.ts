// How every bench server listens and stops: on 127.0.0.1 at a free port, with keep-alive above
// autocannon's pauses between phases (so its connections are not re-made), and closed with its
// connections (so a stop never waits on an idle keep-alive socket).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on 127.0.0.1 at a free port; resolves with the server's base URL. */
export async function listenOnLoopback(server: Server): Promise<string> {
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes the server and every connection it holds. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
