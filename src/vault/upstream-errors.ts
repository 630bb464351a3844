// Error classification for the vault's upstream client: whatever openid-client, oauth4webapi,
// fetch or the outbound guard throws becomes one VaultError with a stable code, and no message
// ever carries a token, code or secret that the request held.
import * as oauth from 'openid-client';
import { outboundRefusalOf } from '../web/outbound.js';
import { VaultError } from './types.js';

/**
 * Error codes meaning the grant itself is gone and only a new authorization helps: RFC 6749 §5.2
 * invalid_grant and unauthorized_client, and the same answers in GitHub's and Slack's words.
 */
const GRANT_GONE = new Set([
  'invalid_grant',
  'unauthorized_client',
  'bad_verification_code',
  'bad_refresh_token',
  'invalid_code',
  'code_already_used',
  'invalid_refresh_token',
  'token_revoked',
  'token_expired',
]);

const TIMEOUT_CODES = new Set([
  'OAUTH_TIMEOUT',
  'OAUTH_ABORT',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

export interface OAuthAnswer {
  error: string;
  description?: string | undefined;
}

/** Maps anything openid-client, oauth4webapi or fetch throws to the vault's error model. */
export function toVaultError(error: unknown, secrets: readonly (string | undefined)[]): VaultError {
  if (error instanceof VaultError) return error;
  if (nameOf(error) === 'TypeError' && /^ERR_INVALID_ARG_/.test(codeOf(error) ?? '')) {
    throw error; // a programming mistake, not the provider's answer
  }
  const chain = causeChain(error);
  const redact = redactor(secrets);
  // The outbound guard refused the provider's address (or a redirect's): its words name the host
  // and the address, never a path or parameter. The guard's listener has logged it.
  const refusal = chain.map(outboundRefusalOf).find((found) => found !== undefined);
  if (refusal) {
    return new VaultError(
      'provider_error',
      502,
      `the provider's address is refused: ${refusal.host} ${refusal.reason}`,
    );
  }
  if (chain.some((link) => codeOf(link) === 'UND_ERR_RES_EXCEEDED_MAX_SIZE')) {
    return new VaultError('provider_error', 502, "the provider's answer is larger than allowed");
  }
  if (chain.some(isTimeout)) {
    return new VaultError('provider_timeout', 504, 'the provider did not answer in time');
  }

  const response = chain.map(responseOf).find((found) => found !== undefined);
  if (response?.status === 429) {
    // RFC 6585 §4.
    return new VaultError(
      'provider_rate_limited',
      503,
      'the provider is rate limiting (HTTP 429)',
      retryAfter(response),
    );
  }
  if (response && response.status >= 500) {
    return new VaultError(
      'provider_unavailable',
      503,
      `the provider answered HTTP ${response.status}`,
      retryAfter(response),
    );
  }

  const answer = oauthAnswerOf(chain, response);
  if (answer) {
    const message = redact(
      `provider answered ${answer.error}${answer.description ? `: ${answer.description}` : ''}`,
    );
    return GRANT_GONE.has(answer.error)
      ? new VaultError('needs_reauth', 409, message)
      : new VaultError('provider_error', 502, message);
  }

  if (chain.some((link) => codeOf(link) === 'OAUTH_RESPONSE_IS_NOT_JSON')) {
    const status = response ? ` with HTTP ${response.status}` : '';
    return new VaultError(
      'provider_unavailable',
      503,
      `the provider answered${status} something other than JSON`,
    );
  }
  // fetch fails with TypeError('fetch failed') whose cause names the system or TLS error
  // (ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET, CERT_HAS_EXPIRED...).
  const fetchFailed = chain.some(
    (link) => nameOf(link) === 'TypeError' && (link as Error).message === 'fetch failed',
  );
  const systemCode = chain
    .map(codeOf)
    .find((code) => code !== undefined && /^(?!OAUTH_|ERR_)[A-Z][A-Z0-9_]+$/.test(code));
  if (fetchFailed || /^(E[A-Z]+|UND_ERR_\w+)$/.test(systemCode ?? '')) {
    const detail = systemCode ? ` (${systemCode})` : '';
    return new VaultError('provider_unavailable', 503, `could not reach the provider${detail}`);
  }
  if (response) return new VaultError('provider_error', 502, `the provider answered HTTP ${response.status}`);
  if (error instanceof oauth.ClientError) {
    // openid-client's own messages name the rule broken, never a value.
    return new VaultError(
      'provider_error',
      502,
      redact(`the provider's answer is not usable: ${error.message}`),
    );
  }
  return new VaultError('provider_error', 502, 'the request to the provider failed');
}

export function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let link = error; link !== undefined && link !== null && chain.length < 8;) {
    if (chain.includes(link)) break;
    chain.push(link);
    // undici reports a refused connection to a name with several addresses as an AggregateError.
    const errors = typeof link === 'object' ? (link as { errors?: unknown }).errors : undefined;
    if (Array.isArray(errors)) chain.push(...errors.slice(0, 2));
    link = typeof link === 'object' ? (link as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

function codeOf(link: unknown): string | undefined {
  const code = link !== null && typeof link === 'object' ? (link as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** By name, not instanceof: fetch's errors come from another realm under test runners. */
function nameOf(link: unknown): string | undefined {
  const name = link !== null && typeof link === 'object' ? (link as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? name : undefined;
}

function isTimeout(link: unknown): boolean {
  const name = nameOf(link);
  return name === 'TimeoutError' || name === 'AbortError' || TIMEOUT_CODES.has(codeOf(link) ?? '');
}

function isResponse(value: unknown): value is Response {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Response).status === 'number' &&
    typeof (value as Response).headers?.get === 'function'
  );
}

/** The HTTP answer behind an error: oauth4webapi keeps it on `response` or as the `cause`. */
function responseOf(link: unknown): Response | undefined {
  if (isResponse(link)) return link;
  const attached =
    link !== null && typeof link === 'object' ? (link as { response?: unknown }).response : undefined;
  return isResponse(attached) ? attached : undefined;
}

/** The provider's OAuth error answer (RFC 6749 §5.2, RFC 6750 §3), wherever it came in. */
export function oauthAnswerOf(chain: unknown[], response: Response | undefined): OAuthAnswer | undefined {
  for (const link of chain) {
    if (link instanceof oauth.ResponseBodyError) return answer(link.error, link.error_description);
    if (link instanceof oauth.WWWAuthenticateChallengeError) {
      const found = link.cause.find((challenge) => typeof challenge.parameters.error === 'string');
      // RFC 6749 §5.2: a 401 from the token endpoint is a failed client authentication.
      return found
        ? answer(found.parameters.error, found.parameters.error_description)
        : answer(
            'invalid_client',
            `HTTP ${response?.status ?? 401} with a ${link.cause[0]?.scheme ?? ''} challenge`,
          );
    }
    // Providers that answer errors with HTTP 200 (GitHub, Slack): oauth4webapi keeps the body.
    const body = link !== null && typeof link === 'object' ? (link as { body?: unknown }).body : undefined;
    if (
      body !== null &&
      typeof body === 'object' &&
      typeof (body as { error?: unknown }).error === 'string'
    ) {
      const { error, error_description: description } = body as {
        error: string;
        error_description?: unknown;
      };
      return answer(error, typeof description === 'string' ? description : undefined);
    }
  }
  return undefined;
}

// eslint-disable-next-line no-control-regex -- removing control characters is the point
const CONTROL_CHARACTERS = /[\x00-\x1F\x7F]+/g;

function answer(error: unknown, description: unknown): OAuthAnswer {
  // RFC 6749 §5.2 limits the code to printable ASCII without '"' and '\'; an error code outside
  // that is not echoed. Descriptions are looser in practice: only control characters go.
  const code =
    typeof error === 'string' && /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,64}$/.test(error)
      ? error
      : 'invalid_response';
  const text =
    typeof description === 'string' ? description.replace(CONTROL_CHARACTERS, ' ').trim().slice(0, 300) : '';
  return { error: code, description: text || undefined };
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
function retryAfter(response: Response): number | undefined {
  const value = response.headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Math.min(Number(value), 86_400);
  const date = Date.parse(value);
  return Number.isNaN(date)
    ? undefined
    : Math.min(Math.max(0, Math.ceil((date - Date.now()) / 1000)), 86_400);
}

/** Blanks out every secret the request carried, should a provider echo one back. */
function redactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  const values = secrets.filter(
    (secret): secret is string => typeof secret === 'string' && secret.length >= 4,
  );
  return (text) => values.reduce((result, secret) => result.split(secret).join('[redacted]'), text);
}
