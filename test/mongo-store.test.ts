// The MongoDB store's failure to connect, which needs no server: the error must be one line that
// names the host and port and never echoes the credentials of the URI. The store's behaviour
// against a real server is the contract suite (store-contract.test.ts, when MONGODB_URI is set).
import { describe, expect, it } from '@jest/globals';
import { openMongoStore } from '../src/store/mongo/index.js';

describe('openMongoStore', () => {
  it('rejects an unreachable server with one line naming the host, without the credentials', async () => {
    const started = Date.now();
    // Port 1 on loopback: nothing listens there, so the driver fails fast and keeps retrying
    // until server selection times out.
    const error = await openMongoStore('mongodb://alice:s3cret-pass@127.0.0.1:1/latchkey', {
      serverSelectionTimeoutMS: 1500,
    }).then(
      () => {
        throw new Error('openMongoStore resolved against a closed port');
      },
      (reason: unknown) => reason,
    );

    expect(error).toBeInstanceOf(Error);
    const { message } = error as Error;
    expect(message).toMatch(/^cannot reach MongoDB at 127\.0\.0\.1:1 \(.+\)$/);
    expect(message).not.toContain('\n');
    expect(message).not.toContain('s3cret-pass');
    expect(message).not.toContain('alice');
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('names every host of a replica-set URI and no password', async () => {
    const error = (await openMongoStore(
      'mongodb://alice:s3cret-pass@127.0.0.1:1,127.0.0.1:2/latchkey?replicaSet=rs0',
      { serverSelectionTimeoutMS: 500 },
    ).catch((reason: unknown) => reason)) as Error;

    expect(error.message).toMatch(/^cannot reach MongoDB at 127\.0\.0\.1:1,127\.0\.0\.1:2 \(/);
    expect(error.message).not.toMatch(/alice|s3cret-pass/);
  });

  it('rejects a malformed connection string without echoing it', async () => {
    const error = (await openMongoStore('mongodb://alice:s3cret-pass@/latchkey').catch(
      (reason: unknown) => reason,
    )) as Error;

    expect(error.message).toMatch(/^invalid MongoDB connection string \(/);
    expect(error.message).not.toMatch(/alice|s3cret-pass/);
  });
});
