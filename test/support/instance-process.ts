// A Latchkey server in a process of its own, for tests that need two processes sharing one SQLite
// file. Started by startLatchkeyProcess(); reports its URL over IPC and stops on 'stop'.
import { startLatchkey } from './latchkey.js';

const [dir, issuer] = process.argv.slice(2);
const server = await startLatchkey({ dir: dir!, env: { ISSUER: issuer! } });
process.send!({ url: server.url });
process.on('message', (message) => {
  if (message === 'stop') {
    server
      .close({ keep: true })
      .finally(() => process.exit(0))
      .catch(() => process.exit(1));
  }
});
