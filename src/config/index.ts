// The one validated configuration: the environment is parsed once, with a schema, into a frozen
// object. A bad setting stops start-up with one line that names it (ConfigError).
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const base64Key = z
  .string()
  .transform((value) => Buffer.from(value.trim(), 'base64'))
  .refine((key) => key.length === 32, 'must be a base64-encoded 32-byte key (openssl rand -base64 32)');

const environmentSchema = z.object({
  /** Listen port. Default 3000. */
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Listen address. Default 0.0.0.0; tests and benchmarks use 127.0.0.1. */
  HOST: z.string().min(1).default('0.0.0.0'),
  /**
   * The issuer URL exactly as clients see it (scheme, host, port, no trailing slash).
   * Default http://localhost:$PORT. In production: the public https:// URL.
   */
  ISSUER: z
    .url({ protocol: /^https?$/ })
    .refine((value) => !value.endsWith('/') || new URL(value).pathname !== '/', 'must not end with a slash')
    .optional(),
  /**
   * `sqlite:<path>` (default `sqlite:./data/latchkey.db`), `postgres://…` / `postgresql://…` (several
   * instances on one database) or `mongodb://…` / `mongodb+srv://…`.
   */
  DATABASE_URL: z
    .string()
    .regex(
      /^(sqlite:.+|postgres(ql)?:\/\/.+|mongodb(\+srv)?:\/\/.+)$/,
      'must be sqlite:<path>, postgres://… or mongodb://…',
    )
    .default('sqlite:./data/latchkey.db'),
  /**
   * Most connections each process opens to PostgreSQL. Default 10. Keep the sum over every
   * instance and worker below the server's max_connections (or a pooler's limit).
   */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(10),
  /**
   * base64 32-byte key for encryption at rest. Default (SQLite only): a key file beside the
   * database, created at first start with a warning. In production set it, and keep it apart
   * from the database backups.
   */
  LATCHKEY_MASTER_KEY: base64Key.optional(),
  /** Comma-separated previous master keys: still open old values after a key rotation. */
  LATCHKEY_PREVIOUS_MASTER_KEYS: z
    .string()
    .optional()
    .transform((value) => (value ? value.split(',').map((part) => part.trim()) : []))
    .pipe(z.array(base64Key)),
  /** Trust X-Forwarded-* (only behind a reverse proxy that sets them). Default false. */
  TRUST_PROXY: booleanString.default(false),
  /** pino level. Default info. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Access token lifetime (seconds) for tokens without an API of their own. Default 3600. */
  ACCESS_TOKEN_TTL: z.coerce.number().int().min(10).max(86400).default(3600),
  /** Refresh token lifetime (seconds). Default 14 days. */
  REFRESH_TOKEN_TTL: z.coerce
    .number()
    .int()
    .min(60)
    .default(14 * 24 * 3600),
  /** Require PKCE for confidential clients too (always required for public ones). Default false. */
  PKCE_REQUIRED_FOR_ALL: booleanString.default(false),
  /**
   * Let the server's own outgoing requests (vault issuers, token calls and proxy, back-channel
   * logout, client JWKS...) reach loopback, private, link-local and other special-use addresses,
   * and plain http. The outbound client (src/web/outbound.ts) refuses them by default to prevent
   * SSRF; enable only in development and tests, where providers and apps run on localhost. Default
   * false; never in production (a start-up warning says so).
   */
  OUTBOUND_ALLOW_PRIVATE: booleanString.default(false),
  /**
   * Worker processes serving requests (node:cluster), sharing the port and the store. Default 1.
   * Set to the number of cores to use them all.
   */
  WORKERS: z.coerce.number().int().min(1).max(256).default(1),
  /** Bearer token that /metrics (Prometheus) requires; unset (default) turns /metrics off. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /**
   * The key file for encryption at rest when LATCHKEY_MASTER_KEY is not set (SQLite only), created
   * with mode 600 at first start. Default: master.key beside the database, except with
   * NODE_ENV=production, where a key file must be chosen explicitly (keep it outside the data
   * folder, so that a copy of that folder does not carry the key with the data) or
   * LATCHKEY_MASTER_KEY set.
   */
  LATCHKEY_MASTER_KEY_FILE: z.string().trim().min(1).optional(),
  /** Branding: the product name on every page (titles, header, texts). Default Latchkey. */
  BRAND_NAME: z.string().trim().min(1).max(80).optional(),
  /**
   * Branding: the logo in every page's header, an https URL or the path of an image file (.svg,
   * .png, .jpg, .gif, .webp) that Latchkey serves itself. Default Latchkey's keyhole mark.
   */
  BRAND_LOGO: z
    .string()
    .trim()
    .min(1)
    .superRefine((value, context) => {
      const problem = brandLogoProblem(value);
      if (problem) context.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  /** Branding: the accent colour of buttons, links and focus rings, as #rgb or #rrggbb. */
  BRAND_ACCENT_COLOR: z
    .string()
    .trim()
    .regex(/^#([0-9a-f]{3}|[0-9a-f]{6})$/i, 'must be a hex colour such as #0f766e')
    .optional(),
  /** Branding: where people get help (https or mailto: URL), linked from every page's footer. */
  BRAND_SUPPORT_URL: z.url({ protocol: /^(https?|mailto)$/ }).optional(),
  /**
   * Sign-in handed to the operator's own app: the login step sends the browser to this URL with
   * `login_challenge=…` added to its query, and the app answers through the admin API
   * (/admin/v1/login-requests). Default none: Latchkey's own login page. https in production.
   */
  LOGIN_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** The same for the consent step (`consent_challenge=…`, /admin/v1/consent-requests). Default none. */
  CONSENT_URL: z.url({ protocol: /^https?$/ }).optional(),
});

/** Image types a BRAND_LOGO file may have, by extension. */
export const LOGO_FILE_TYPES: Readonly<Record<string, string>> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
};

function brandLogoProblem(value: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(value)) {
    return URL.canParse(value) && value.toLowerCase().startsWith('https://')
      ? undefined
      : 'must be an https URL or the path of an image file';
  }
  if (!LOGO_FILE_TYPES[extname(value).toLowerCase()]) {
    return `must be an https URL or an image file (${Object.keys(LOGO_FILE_TYPES).join(', ')})`;
  }
  return existsSync(value) ? undefined : `file ${value} not found`;
}

/** The operator's branding of the pages; unset fields keep Latchkey's own look. */
export interface Branding {
  readonly name: string;
  readonly logo?: { readonly url: string } | { readonly file: string; readonly type: string } | undefined;
  readonly accentColor?: string | undefined;
  readonly supportUrl?: string | undefined;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly issuer: string;
  readonly database:
    | { readonly kind: 'sqlite'; readonly path: string }
    | { readonly kind: 'postgres'; readonly url: string; readonly poolSize: number }
    | { readonly kind: 'mongodb'; readonly url: string };
  readonly masterKey?: Buffer | undefined;
  readonly previousMasterKeys: readonly Buffer[];
  readonly trustProxy: boolean;
  readonly logLevel: string;
  readonly accessTokenTtl: number;
  readonly refreshTokenTtl: number;
  readonly pkceRequiredForAll: boolean;
  readonly outboundAllowPrivate: boolean;
  readonly workers: number;
  readonly metricsToken?: string | undefined;
  /** LATCHKEY_MASTER_KEY_FILE: the key file chosen explicitly, if any. */
  readonly masterKeyFile?: string | undefined;
  readonly branding: Branding;
  /** LOGIN_URL and CONSENT_URL: the operator's pages that sign users in and ask their consent. */
  readonly loginUrl?: string | undefined;
  readonly consentUrl?: string | undefined;
}

/** Reads the configuration from an environment (process.env by default). Throws ConfigError. */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const defined = Object.fromEntries(
    Object.entries(environment).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = environmentSchema.safeParse(defined);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`invalid setting ${name}: ${issue.message}`);
  }
  const env = parsed.data;
  const issuer = env.ISSUER ?? `http://localhost:${env.PORT}`;
  const database: Config['database'] = env.DATABASE_URL.startsWith('sqlite:')
    ? { kind: 'sqlite', path: env.DATABASE_URL.slice('sqlite:'.length) }
    : env.DATABASE_URL.startsWith('postgres')
      ? { kind: 'postgres', url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE }
      : { kind: 'mongodb', url: env.DATABASE_URL };
  if (database.kind !== 'sqlite' && !env.LATCHKEY_MASTER_KEY) {
    throw new ConfigError(
      `invalid setting LATCHKEY_MASTER_KEY: required when DATABASE_URL is ${database.kind}://…`,
    );
  }
  // A key file beside the database travels with every copy of the data folder: in production it
  // takes an explicit choice (README, "Production notes").
  if (
    database.kind === 'sqlite' &&
    database.path !== ':memory:' &&
    !env.LATCHKEY_MASTER_KEY &&
    !env.LATCHKEY_MASTER_KEY_FILE &&
    environment.NODE_ENV === 'production'
  ) {
    throw new ConfigError(
      'invalid setting LATCHKEY_MASTER_KEY: required with NODE_ENV=production (or LATCHKEY_MASTER_KEY_FILE, a key file kept apart from the database)',
    );
  }
  return Object.freeze({
    port: env.PORT,
    host: env.HOST,
    issuer,
    database,
    masterKey: env.LATCHKEY_MASTER_KEY,
    previousMasterKeys: Object.freeze(env.LATCHKEY_PREVIOUS_MASTER_KEYS),
    trustProxy: env.TRUST_PROXY,
    logLevel: env.LOG_LEVEL,
    accessTokenTtl: env.ACCESS_TOKEN_TTL,
    refreshTokenTtl: env.REFRESH_TOKEN_TTL,
    pkceRequiredForAll: env.PKCE_REQUIRED_FOR_ALL,
    outboundAllowPrivate: env.OUTBOUND_ALLOW_PRIVATE,
    workers: env.WORKERS,
    metricsToken: env.METRICS_TOKEN,
    masterKeyFile: env.LATCHKEY_MASTER_KEY_FILE,
    branding: Object.freeze({
      name: env.BRAND_NAME ?? 'Latchkey',
      logo: brandLogo(env.BRAND_LOGO),
      accentColor: env.BRAND_ACCENT_COLOR?.toLowerCase(),
      supportUrl: env.BRAND_SUPPORT_URL,
    }),
    loginUrl: env.LOGIN_URL,
    consentUrl: env.CONSENT_URL,
  });
}

function brandLogo(value: string | undefined): Branding['logo'] {
  if (!value) return undefined;
  if (value.toLowerCase().startsWith('https://')) return { url: value };
  return { file: value, type: LOGO_FILE_TYPES[extname(value).toLowerCase()]! };
}

/** Warnings about insecure settings, printed once at start-up. */
export function configWarnings(config: Config, environment: NodeJS.ProcessEnv = process.env): string[] {
  const warnings: string[] = [];
  if (config.outboundAllowPrivate && environment.NODE_ENV === 'production') {
    warnings.push(
      'OUTBOUND_ALLOW_PRIVATE is on in production: outbound requests may reach loopback, private and cloud metadata addresses',
    );
  }
  if (
    !config.issuer.startsWith('https:') &&
    !/^http:\/\/(localhost|127\.0\.0\.1)(:|\/|$)/.test(config.issuer)
  ) {
    warnings.push(`ISSUER ${config.issuer} is not https: tokens and cookies travel in the clear`);
  }
  if (!config.masterKey) {
    warnings.push(
      config.masterKeyFile
        ? `LATCHKEY_MASTER_KEY is not set: using the key file ${config.masterKeyFile}`
        : 'LATCHKEY_MASTER_KEY is not set: using a key file beside the database; set it in production',
    );
  }
  return warnings;
}
