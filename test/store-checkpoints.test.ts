// WAL checkpoints on a worker thread (src/store/sqlite/checkpointer.ts): with background
// checkpoints on, committed pages reach the database file without the server's connection ever
// checkpointing (its own threshold is far above what these writes produce); without, they stay in
// the WAL until SQLite's threshold is crossed.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, test } from '@jest/globals';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { Store } from '../src/store/types.js';

const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function writeRecords(store: Store, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      store.oidc.upsert({
        model: 'AccessToken',
        key: `key-${i}`,
        payload: 'x'.repeat(600),
        expiresAt: Date.now() + 60_000,
      }),
    ),
  );
}

async function databaseBytesAfterWrites(
  backgroundCheckpoints: boolean,
): Promise<{ db: number; records: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-checkpoint-'));
  dirs.push(dir);
  const path = join(dir, 'latchkey.db');
  const store = openSqliteStore(path, { backgroundCheckpoints });
  try {
    const before = statSync(path).size;
    // About 150 pages: under SQLite's own threshold of 1000, so only the worker checkpoints them.
    await writeRecords(store, 500);
    await sleep(600);
    return { db: statSync(path).size - before, records: await store.oidc.count('AccessToken') };
  } finally {
    await store.close();
  }
}

test('a server store checkpoints in the background; a plain one leaves the pages in the WAL', async () => {
  const background = await databaseBytesAfterWrites(true);
  const plain = await databaseBytesAfterWrites(false);
  expect(background.records).toBe(500);
  expect(plain.records).toBe(500);
  expect(background.db).toBeGreaterThan(300_000);
  expect(plain.db).toBe(0);
});
