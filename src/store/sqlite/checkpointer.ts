// WAL checkpoints off the event loop. A checkpoint copies the WAL's pages back into the database
// file and fsyncs both: milliseconds of blocking I/O that SQLite would otherwise run inside
// whichever commit crossed wal_autocheckpoint, stalling every request behind it. A server's store
// runs them from a worker thread instead, on a connection of its own, as PASSIVE checkpoints (they
// never wait for, nor block, the server's readers and writers). The server's own connection keeps
// a much higher wal_autocheckpoint as a backstop: if the worker falls behind or dies, the WAL is
// still checkpointed, only on the event loop again.
import { Worker } from 'node:worker_threads';
import type { DatabaseSync } from 'node:sqlite';

/** How often the worker checkpoints. */
const INTERVAL_MS = 100;
/** The server connection's wal_autocheckpoint (pages) while the worker runs; SQLite's default is 1000. */
const BACKSTOP_PAGES = 8000;

// Plain JavaScript evaluated by the worker (CommonJS: an eval worker has no module of its own).
// SQLITE_BUSY (another process checkpointing) and other errors are left for the next round.
const WORKER_SOURCE = `
const { DatabaseSync } = require('node:sqlite');
const { workerData } = require('node:worker_threads');
const db = new DatabaseSync(workerData.path);
db.exec('PRAGMA busy_timeout = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
setInterval(() => {
  try {
    checkpoint.get();
  } catch {}
}, workerData.intervalMs);
`;

export class BackgroundCheckpointer {
  readonly #worker: Worker;

  constructor(db: DatabaseSync, path: string) {
    db.exec(`PRAGMA wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, intervalMs: INTERVAL_MS } });
    // The worker must neither keep the process alive nor take it down: a failed worker leaves the
    // backstop in charge.
    this.#worker.unref();
    this.#worker.on('error', (error) => {
      if (db.isOpen) db.exec('PRAGMA wal_autocheckpoint = 1000');
      process.emitWarning(`SQLite store: background checkpoints stopped: ${error.message}`, {
        code: 'LATCHKEY_STORE_CHECKPOINT',
      });
    });
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}
