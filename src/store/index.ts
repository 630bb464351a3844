// Opens the configured store and the keyring for encryption at rest.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import type { Config } from '../config/index.js';
import { ConfigError } from '../config/index.js';
import { Keyring } from './encryption.js';
import { openSqliteStore, type SqliteStoreOptions } from './sqlite/index.js';
import type { Store } from './types.js';

export type { Store } from './types.js';

export async function openStore(config: Config, options: SqliteStoreOptions = {}): Promise<Store> {
  if (config.database.kind === 'sqlite') return openSqliteStore(config.database.path, options);
  if (config.database.kind === 'postgres') {
    const { openPostgresStore } = await import('./postgres/index.js');
    return openPostgresStore(config.database.url, { poolSize: config.database.poolSize });
  }
  const { openMongoStore } = await import('./mongo/index.js');
  return openMongoStore(config.database.url);
}

/**
 * Path of the master key file used when LATCHKEY_MASTER_KEY is not set (embedded mode only):
 * LATCHKEY_MASTER_KEY_FILE, or master.key beside the database.
 */
export function masterKeyFilePath(config: Config): string {
  if (config.masterKeyFile && config.database.kind === 'sqlite') return resolve(config.masterKeyFile);
  if (config.database.kind !== 'sqlite' || config.database.path === ':memory:') {
    throw new ConfigError('invalid setting LATCHKEY_MASTER_KEY: required unless the store is a SQLite file');
  }
  return join(dirname(resolve(config.database.path)), 'master.key');
}

/**
 * The keyring for encryption at rest: LATCHKEY_MASTER_KEY, or (embedded mode) a key file
 * (LATCHKEY_MASTER_KEY_FILE, or beside the database), created with mode 600 on first start.
 * `onCreate` is told when a new key file is written.
 */
export function loadKeyring(config: Config, onCreate?: (path: string) => void): Keyring {
  if (config.masterKey) return new Keyring(config.masterKey, [...config.previousMasterKeys]);
  if (config.database.kind === 'sqlite' && config.database.path === ':memory:') {
    return new Keyring(randomBytes(32));
  }
  const path = masterKeyFilePath(config);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      // `wx`: two processes starting at once must not overwrite each other's key.
      writeFileSync(path, randomBytes(32).toString('base64') + '\n', { flag: 'wx', mode: 0o600 });
      onCreate?.(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  chmodSync(path, 0o600);
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length !== 32)
    throw new ConfigError(
      `invalid setting ${config.masterKeyFile ? 'LATCHKEY_MASTER_KEY_FILE' : 'LATCHKEY_MASTER_KEY'}: key file ${path} is not a base64 32-byte key`,
    );
  return new Keyring(key, [...config.previousMasterKeys]);
}
