// A Latchkey server in a process of its own, for tests that need several processes on one store
// (test/support/latchkey.ts's startLatchkeyProcess, test/support/cluster.ts). Arguments: the
// directory, the issuer, and optionally JSON `{ port, env }` (a fixed port to restart on, and more
// settings such as DATABASE_URL and LATCHKEY_MASTER_KEY). Reports its URL over IPC; stops on 'stop'.
import { startLatchkey } from './latchkey.js';

const [dir, issuer, extra] = process.argv.slice(2);
const { port, env } = JSON.parse(extra ?? '{}') as { port?: number; env?: Record<string, string> };
const server = await startLatchkey({ dir: dir!, port, env: { ISSUER: issuer!, ...env } });
process.send!({ url: server.url });
process.on('message', (message) => {
  if (message === 'stop') {
    server
      .close({ keep: true })
      .finally(() => process.exit(0))
      .catch(() => process.exit(1));
  }
});
