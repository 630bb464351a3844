// createLatchkeyApp: Latchkey from its settings, as one Koa app. The standalone server (main.ts)
// listens with it; a Node app mounts it under a path of its own (koa-mount, or its `callback()`
// for Express and node:http), with an accounts adapter so that the app's users sign in through
// the app's own session and sign-in page. Same store, keys and settings either way.
import type { RequestListener } from 'node:http';
import { pino, type Logger } from 'pino';
import type { HostAccounts } from '../authorization/login-handoff.js';
import { configWarnings, loadConfig, type Config } from '../config/index.js';
import { loadKeyring, openStore } from '../store/index.js';
import { createLatchkey, type Latchkey, type LatchkeyOptions } from './app.js';

export interface LatchkeyAppOptions extends Partial<Omit<LatchkeyOptions, 'accounts'>> {
  /**
   * The settings, named as in the README's table (DATABASE_URL, LATCHKEY_MASTER_KEY, LOGIN_URL …).
   * Default process.env, which the standalone server reads too.
   */
  env?: NodeJS.ProcessEnv;
  /** The settings already read (the standalone server); `env` and `issuer` are then not read. */
  config?: Config;
  /**
   * The issuer, exactly as clients see it, with the path the host mounts Latchkey under:
   * `https://app.example.com/oauth` for `app.use('/oauth', latchkey.callback())`. Default ISSUER.
   */
  issuer?: string;
  /** The host's users: they sign in through the host's session and sign-in page. */
  accounts?: HostAccounts;
}

export interface LatchkeyApp extends Latchkey {
  /** The `(request, response)` handler for Express (`app.use(path, …)`) and node:http. */
  callback(): RequestListener;
}

export async function createLatchkeyApp(options: LatchkeyAppOptions = {}): Promise<LatchkeyApp> {
  const { env = process.env, config: given, issuer, accounts, ...rest } = options;
  const config = given ?? loadConfig(issuer ? { ...env, ISSUER: issuer } : env);
  const logger: Logger = rest.logger ?? pino({ level: config.logLevel, base: { service: 'latchkey' } });
  const keyring = loadKeyring(config, (path) =>
    logger.warn(
      { path },
      'created a master encryption key file beside the database; set LATCHKEY_MASTER_KEY in production',
    ),
  );
  for (const warning of configWarnings(config, env)) logger.warn(warning);
  const store = await openStore(config, { backgroundCheckpoints: true });
  try {
    const latchkey = await createLatchkey(config, store, keyring, { ...rest, logger, accounts });
    return { ...latchkey, callback: () => latchkey.app.callback() };
  } catch (error) {
    await store.close();
    throw error;
  }
}
