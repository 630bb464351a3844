// The issuer's metadata (OpenID Connect Discovery 1.0 §4, RFC 8414 §3): where its keys and its
// introspection endpoint are. Fetched once, on first need; a failure is retried on the next request.
import { upstreamUnavailable } from './errors.js';

export type FetchFunction = typeof fetch;

export interface IssuerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
  [field: string]: unknown;
}

export interface HttpOptions {
  fetch: FetchFunction;
  timeoutMs: number;
}

export interface JsonRequest {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

/** A JSON GET or POST with a deadline; any failure is the issuer's, never the caller's request's. */
export async function fetchJson(
  url: string,
  init: JsonRequest,
  http: HttpOptions,
  what: string,
): Promise<unknown> {
  let response: Response;
  try {
    response = await http.fetch(url, {
      ...init,
      redirect: 'manual',
      signal: AbortSignal.timeout(http.timeoutMs),
      headers: { accept: 'application/json', ...init.headers },
    });
  } catch (cause) {
    throw upstreamUnavailable(`The authorization server could not be reached (${what}).`, cause);
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw upstreamUnavailable(
      `The authorization server answered ${what} with HTTP ${response.status}.`,
      new Error(`${what}: HTTP ${response.status} from ${url}`),
    );
  }
  try {
    return await response.json();
  } catch (cause) {
    throw upstreamUnavailable(
      `The authorization server answered ${what} with something other than JSON.`,
      cause,
    );
  }
}

export class IssuerDiscovery {
  readonly #issuer: string;
  readonly #http: HttpOptions;
  #metadata: Promise<IssuerMetadata> | undefined;

  constructor(issuer: string, http: HttpOptions) {
    this.#issuer = issuer;
    this.#http = http;
  }

  metadata(): Promise<IssuerMetadata> {
    this.#metadata ??= this.#fetch().catch((error: unknown) => {
      this.#metadata = undefined;
      throw error;
    });
    return this.#metadata;
  }

  async #fetch(): Promise<IssuerMetadata> {
    // OpenID Connect Discovery §4: the issuer with /.well-known/openid-configuration appended.
    const url = `${this.#issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const document = (await fetchJson(
      url,
      { method: 'GET' },
      this.#http,
      'discovery',
    )) as Partial<IssuerMetadata>;
    // OpenID Connect Discovery §4.3, RFC 8414 §3.3: the document must name the same issuer, or an
    // impersonating server could hand out its own keys.
    if (typeof document !== 'object' || document === null || document.issuer !== this.#issuer) {
      throw upstreamUnavailable(
        'The authorization server metadata names another issuer.',
        new Error(`discovery at ${url} did not name issuer ${this.#issuer}`),
      );
    }
    return document as IssuerMetadata;
  }

  async endpoint(field: 'jwks_uri' | 'introspection_endpoint'): Promise<string> {
    const value = (await this.metadata())[field];
    if (typeof value !== 'string' || !URL.canParse(value)) {
      throw upstreamUnavailable(
        `The authorization server metadata has no ${field}.`,
        new Error(`discovery for ${this.#issuer} lacks ${field}`),
      );
    }
    return value;
  }
}
