// Group commit in the SQLite store (src/store/sqlite/batch.ts): operations queued in one turn of
// the event loop share a transaction, yet each succeeds or fails on its own, nothing resolves
// before it is committed, and a batch that cannot start changes nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { StatementBatch } from '../src/store/sqlite/batch.js';

let dir: string;
let db: DatabaseSync;
let batch: StatementBatch;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'latchkey-batch-'));
  db = new DatabaseSync(join(dir, 'batch.db'));
  // As the store opens it (see schema.ts): a busy_timeout, which the batch honours its own way.
  db.exec(
    'PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)',
  );
  batch = new StatementBatch(db);
});

afterEach(() => {
  if (db.isOpen) db.close();
  rmSync(dir, { recursive: true, force: true });
});

const insert = (k: string, v: string | null) => () =>
  db.prepare('INSERT INTO t VALUES (?, ?)').run(k, v).changes;
const read = (k: string) => () =>
  (db.prepare('SELECT v FROM t WHERE k = ?').get(k) as { v: string } | undefined)?.v;
const otherConnection = () => new DatabaseSync(join(dir, 'batch.db'));

test('writes of one turn all land, and reads queued after a write see it', async () => {
  const writes = Array.from({ length: 50 }, (_, i) => batch.write(insert(`k${i}`, `v${i}`)));
  const readBack = batch.read(read('k49'));
  expect(await Promise.all(writes)).toEqual(Array(50).fill(1));
  expect(await readBack).toBe('v49');
  const other = otherConnection();
  expect((other.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(50);
  other.close();
});

test('a failing statement rejects alone; the rest of its batch is committed', async () => {
  const ok1 = batch.write(insert('a', '1'));
  const bad = batch.write(insert('b', null));
  const duplicate = batch.write(insert('a', 'again'));
  const ok2 = batch.write(insert('c', '3'));
  await expect(ok1).resolves.toBe(1);
  await expect(bad).rejects.toThrow(/NOT NULL/);
  await expect(duplicate).rejects.toThrow(/UNIQUE|PRIMARY/);
  await expect(ok2).resolves.toBe(1);
  const other = otherConnection();
  expect(other.prepare('SELECT k, v FROM t ORDER BY k').all()).toEqual([
    { k: 'a', v: '1' },
    { k: 'c', v: '3' },
  ]);
  other.close();
});

test('operations one per turn each commit on their own, a failing one alone, and leave no transaction open', async () => {
  await expect(batch.write(insert('a', '1'))).resolves.toBe(1);
  expect(db.isTransaction).toBe(false);
  await expect(batch.write(insert('b', null))).rejects.toThrow(/NOT NULL/);
  expect(db.isTransaction).toBe(false);
  await expect(batch.read(read('a'))).resolves.toBe('1');
  await expect(batch.read(read('b'))).resolves.toBeUndefined();
  expect(db.isTransaction).toBe(false);
  await expect(batch.write(insert('c', '3'))).resolves.toBe(1);
  const other = otherConnection();
  expect(other.prepare('SELECT k, v FROM t ORDER BY k').all()).toEqual([
    { k: 'a', v: '1' },
    { k: 'c', v: '3' },
  ]);
  other.close();
});

test('nothing resolves before its commit is visible to another connection', async () => {
  const other = otherConnection();
  const seen: (number | undefined)[] = [];
  await Promise.all(
    ['x', 'y'].map((k) =>
      batch.write(insert(k, k)).then(() => {
        seen.push((other.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n);
      }),
    ),
  );
  expect(seen).toEqual([2, 2]);
  other.close();
});

/** Another process that has been writing (the batch has seen its commits), and now holds the lock. */
async function busyNeighbour() {
  await batch.read(read('anything'));
  const neighbour = otherConnection();
  neighbour.exec("INSERT INTO t VALUES ('neighbour', 'was here')");
  await batch.read(read('anything'));
  neighbour.exec('BEGIN IMMEDIATE');
  return neighbour;
}

test('while another process holds the write lock, a write waits without blocking the event loop', async () => {
  const holder = await busyNeighbour();
  const write = batch.write(insert('w', 'waited'));
  // The event loop keeps turning: timers fire and reads are answered meanwhile.
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 30));
  expect(performance.now() - started).toBeLessThan(500);
  expect(await batch.read(read('w'))).toBeUndefined();
  holder.exec('COMMIT');
  holder.close();
  await expect(write).resolves.toBe(1);
  expect(await batch.read(read('w'))).toBe('waited');
});

test('a batch refused the write lock for longer than busy_timeout fails whole and changes nothing', async () => {
  db.exec('PRAGMA busy_timeout = 50');
  const impatient = new StatementBatch(db);
  batch = impatient;
  const holder = await busyNeighbour();
  const first = impatient.write(insert('p', '1'));
  const second = impatient.write(insert('q', '2'));
  await expect(first).rejects.toThrow(/locked|busy/i);
  await expect(second).rejects.toThrow(/locked|busy/i);
  holder.exec('ROLLBACK');
  holder.close();
  expect(db.isTransaction).toBe(false);
  expect(await impatient.read(read('p'))).toBeUndefined();
  expect(await impatient.write(insert('p', 'later'))).toBe(1);
});

test('flush() runs what is queued at once (the store flushes before it closes)', async () => {
  const pending = batch.write(insert('z', 'last'));
  batch.flush({ wait: true });
  db.close();
  await expect(pending).resolves.toBe(1);
  const reopened = otherConnection();
  expect(reopened.prepare('SELECT v FROM t WHERE k = ?').get('z')).toEqual({ v: 'last' });
  reopened.close();
});
