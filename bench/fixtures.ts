// What every bench server is seeded with and reports back to the runner: the same clients, user and
// APIs (resource servers) on Latchkey and on the bare oidc-provider reference, so that each
// scenario sends the same requests to both.

export const BENCH_EMAIL = 'bench@example.com';
export const BENCH_PASSWORD = 'correct horse battery staple';
/** Never contacted: the flow stops at the redirect to it and reads the code from the URL. */
export const BENCH_CALLBACK = 'http://127.0.0.1:9/callback';

/** Scopes every bench API accepts. */
export const API_SCOPE = 'read write';
export const API_TTL_SECONDS = 600;

export interface BenchApis {
  /** Opaque access tokens (stored; looked up on introspection). */
  opaque: string;
  /** JWT access tokens signed RS256. */
  rs256: string;
  /** JWT access tokens signed ES256. */
  es256: string;
  /** The resource API (`/v1/users/me`): JWT access tokens with profile claims. */
  users: string;
}

export interface BenchFixtures {
  /** Issuer and base URL, http://127.0.0.1:port. */
  url: string;
  email: string;
  password: string;
  /** Confidential web app: authorization_code + refresh_token. */
  web: { clientId: string; clientSecret: string; redirectUri: string };
  /** Confidential service: client_credentials for every API, and their resource server. */
  service: { clientId: string; clientSecret: string };
  /** Latchkey only: an app of the token vault (client_credentials for the built-in vault API). */
  vaultApp?: { clientId: string; clientSecret: string };
  apis: BenchApis;
}

export function benchApis(issuer: string): BenchApis {
  return {
    opaque: 'https://opaque.bench.test',
    rs256: 'https://rs256.bench.test',
    es256: 'https://es256.bench.test',
    users: `${issuer}/v1`,
  };
}

/** The scopes of Latchkey's built-in vault API (`${issuer}/vault`), all of which the bench app asks for. */
export const VAULT_SCOPE = 'vault:connect vault:tokens vault:proxy vault:admin';

/** The user API's scopes: the profile claims `/v1/users/me` may release. */
export const USERS_API_SCOPE = 'profile email';
