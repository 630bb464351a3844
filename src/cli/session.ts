// One command's access to Latchkey: the configuration from the environment, the store (opened for
// the command, closed after it) and the same services the server uses.
import { loadConfig, type Config } from '../config/index.js';
import { createServices, type Services } from '../http/app.js';
import type { Keyring } from '../store/encryption.js';
import { loadKeyring, openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { warn, type CliIo } from './io.js';

export interface Session {
  config: Config;
  store: Store;
  keyring: Keyring;
  services: Services;
}

export async function withSession<T>(io: CliIo, work: (session: Session) => Promise<T>): Promise<T> {
  const config = loadConfig(io.env);
  const keyring = loadKeyring(config, (path) =>
    warn(io, `created a master encryption key file at ${path}; set LATCHKEY_MASTER_KEY in production`),
  );
  const store = await openStore(config);
  try {
    return await work({ config, store, keyring, services: createServices(store, keyring, config.issuer) });
  } finally {
    await store.close();
  }
}
