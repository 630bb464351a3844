// Group commit for the SQLite store. Every commit on this kind of machine costs a dozen system
// calls (WAL frame writes, lock and unlock on the shared-memory index), and every read outside a
// transaction two (the read lock); the statement itself is cheap. So the hot-path operations of one
// turn of the event loop are queued and run together when the turn ends (setImmediate), in one
// transaction: the locks are taken once and the WAL pages each operation dirtied are written once.
//
// Each operation still resolves only after its transaction has committed, so nothing is answered
// before it is durable, and each still runs as one statement: a statement that fails (a constraint,
// say) is undone on its own by SQLite and rejects its own promise only. A failed COMMIT rejects the
// whole batch, since none of it was written.
//
// Stores may keep rows in memory between batches (`onExternalChange`): every batch first reads
// SQLite's data_version, which changes whenever another connection (another worker process, the
// admin CLI) has committed since this one last looked, and the caches are dropped when it did.
// Writes through this connection drop what they change themselves.
//
// While other processes write to the same file (seen through data_version in the last few
// seconds), a batch that writes does not wait for the write lock inside SQLite (its busy handler
// sleeps, and the whole event loop with it): it asks for the lock without waiting and, refused,
// tries again a millisecond later, gathering what else is queued meanwhile. It gives up after the
// connection's busy_timeout, as SQLite would. A process writing alone takes the lock directly.
import type { DatabaseSync, StatementSync } from 'node:sqlite';

/** How long after another connection's last commit write batches ask for the lock without waiting. */
const CONTENDED_MS = 5000;

/** SQLITE_BUSY, whatever its extended code. */
function isBusy(error: unknown): boolean {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && (code & 0xff) === 5;
}

interface Pending {
  run: () => unknown;
  write: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class StatementBatch {
  readonly #beginRead: StatementSync;
  readonly #beginWrite: StatementSync;
  readonly #commit: StatementSync;
  readonly #rollback: StatementSync;
  readonly #dataVersion: StatementSync;
  readonly #changeListeners: (() => void)[] = [];
  #seenVersion: number | undefined;
  readonly #db: DatabaseSync;
  /** The connection's busy_timeout (ms): how long a write batch keeps asking for the lock. */
  readonly #busyTimeoutMs: number;
  #busySince: number | undefined;
  /** When a commit by another connection was last seen (epoch ms). */
  #otherWriterSeenAt = Number.NEGATIVE_INFINITY;
  #queue: Pending[] = [];
  #writes = false;
  #scheduled = false;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#busyTimeoutMs = (db.prepare('PRAGMA busy_timeout').get() as { timeout: number }).timeout;
    this.#beginRead = db.prepare('BEGIN DEFERRED');
    // IMMEDIATE: the write lock up front, so that a batch never fails halfway while upgrading a
    // read lock.
    this.#beginWrite = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#dataVersion = db.prepare('PRAGMA data_version');
  }

  /** Calls `listener` before a batch runs whenever another connection has changed the database. */
  onExternalChange(listener: () => void): void {
    this.#changeListeners.push(listener);
  }

  /** Runs `run` (one statement that only reads) with this turn's batch. */
  read<T>(run: () => T): Promise<T> {
    return this.#enqueue(run, false);
  }

  /** Runs `run` (one statement that writes) with this turn's batch; resolves once committed. */
  write<T>(run: () => T): Promise<T> {
    return this.#enqueue(run, true);
  }

  #enqueue<T>(run: () => T, write: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, write, resolve: resolve as (value: unknown) => void, reject });
      if (write) this.#writes = true;
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Runs what is queued now. `wait`: block for the write lock as SQLite would, rather than try
   * again later (the store does so before it closes).
   */
  flush(options: { wait?: boolean } = {}): void {
    const queue = this.#queue;
    if (queue.length === 0) return;
    const writes = this.#writes;
    this.#queue = [];
    this.#writes = false;
    this.#scheduled = false;
    if (!writes) return this.#run(queue, 'read');
    if (options.wait || Date.now() - this.#otherWriterSeenAt > CONTENDED_MS) {
      return this.#run(queue, 'write');
    }
    let began: boolean;
    try {
      began = this.#tryBeginWrite();
    } catch (error) {
      this.#busySince = undefined;
      for (const pending of queue) pending.reject(error);
      return;
    }
    if (began) return this.#run(queue, 'began');
    // Another connection holds the write lock: the writes wait for it, the reads need not (none of
    // them may see a write that has not committed, let alone resolved).
    this.#retryLater(queue.filter((pending) => pending.write));
    const reads = queue.filter((pending) => !pending.write);
    if (reads.length > 0) this.#run(reads, 'read');
  }

  /** Runs `queue` in one transaction: `began` when BEGIN IMMEDIATE has already succeeded. */
  #run(queue: Pending[], mode: 'read' | 'write' | 'began'): void {
    // A lone statement too: run on its own, it and the data_version check would each be a
    // transaction of their own, each taking and releasing SQLite's locks (two system calls more
    // per request when requests come one at a time: measured 8.2 → 6.2 fcntl and 5–10% less CPU per
    // client_credentials request at one connection).
    try {
      if (mode === 'read') this.#beginRead.run();
      else if (mode === 'write') this.#beginWrite.run();
    } catch (error) {
      this.#busySince = undefined;
      for (const pending of queue) pending.reject(error);
      return;
    }
    if (mode !== 'read') this.#busySince = undefined;
    // Inside the transaction: what the caches are checked against is the batch's own snapshot.
    this.#checkExternalChanges();
    const outcomes = queue.map((pending) => attempt(pending.run));
    try {
      this.#commit.run();
    } catch (error) {
      try {
        this.#rollback.run();
      } catch {
        // The failed COMMIT may already have ended the transaction.
      }
      // Reads in the batch may have cached rows that its writes left uncommitted.
      this.#forgetCaches();
      for (const pending of queue) pending.reject(error);
      return;
    }
    queue.forEach((pending, index) => settle(pending, outcomes[index]!));
  }

  /** BEGIN IMMEDIATE without waiting: false when another connection holds the write lock. */
  #tryBeginWrite(): boolean {
    // exec, not a prepared statement: SQLite applies PRAGMA busy_timeout when it compiles it.
    this.#db.exec('PRAGMA busy_timeout = 0');
    try {
      this.#beginWrite.run();
      return true;
    } catch (error) {
      if (isBusy(error)) return false;
      throw error;
    } finally {
      // The connection's own integer; PRAGMA takes no bound parameters.
      this.#db.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
    }
  }

  /** Puts a batch refused the write lock back in front of the queue, and tries again shortly. */
  #retryLater(queue: Pending[]): void {
    this.#queue = queue.concat(this.#queue);
    this.#writes = true;
    const now = Date.now();
    this.#busySince ??= now;
    if (now - this.#busySince >= this.#busyTimeoutMs) {
      // Refused for as long as SQLite itself would wait: a last attempt that waits as SQLite does,
      // and fails the batch with SQLite's own error if the lock is still held.
      this.flush({ wait: true });
      return;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => this.flush(), 1);
    }
  }

  #checkExternalChanges(): void {
    let version: number | undefined;
    try {
      version = (this.#dataVersion.get() as { data_version: number }).data_version;
    } catch {
      // Unknown: assume a change, and look again next time.
    }
    if (version !== undefined && version === this.#seenVersion) return;
    if (this.#seenVersion !== undefined) this.#otherWriterSeenAt = Date.now();
    this.#forgetCaches();
    this.#seenVersion = version;
  }

  #forgetCaches(): void {
    this.#seenVersion = undefined;
    for (const listener of this.#changeListeners) listener();
  }
}

function attempt(run: () => unknown): Outcome {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    return { ok: false, error };
  }
}

function settle(pending: Pending, outcome: Outcome): void {
  if (outcome.ok) pending.resolve(outcome.value);
  else pending.reject(outcome.error);
}
