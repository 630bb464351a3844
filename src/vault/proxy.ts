// The vault's pass-through proxy: forwards one app request to a provider's API with the end user's
// token attached, and streams the provider's answer back as it came (hop-by-hop headers removed).
// Framework-free: a route resolves the URL (proxy-path.ts) and the token, and writes the answer.
import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { finished, Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Dispatcher } from 'undici';
import { createOutboundClient, outboundRefusalOf, type OutboundClient } from '../web/outbound.js';
import { VaultError } from './types.js';

export interface ProxyOptions {
  /**
   * Milliseconds to wait for the provider's headers, and between two chunks of its body (default 30 s).
   * undici checks these on a coarse clock, so they fire up to about a second late.
   */
  timeoutMs?: number;
  /** Largest request body forwarded, in bytes (default 10 MiB). */
  maxRequestBytes?: number;
  /** Largest response body streamed back, in bytes (default 50 MiB). */
  maxResponseBytes?: number;
  /**
   * The outbound client whose guarded dispatcher carries every call (src/web/outbound.ts); it stays
   * the caller's to close, and limits streamed bodies itself (its `maxStreamBytes`): the proxy then
   * checks only a declared length against maxResponseBytes. Default: one of the proxy's own, with
   * the proxy's limits, owned (and closed) by the proxy.
   */
  outbound?: OutboundClient;
  /** For the proxy's own outbound client: reach private addresses (OUTBOUND_ALLOW_PRIVATE). */
  allowPrivate?: boolean;
}

export interface ProxyRequest {
  method: string;
  /** From upstreamUrl(): already checked to stay under the provider's API base URL. */
  url: URL;
  /** The app's request headers; only an allow-list of them goes upstream. */
  headers: IncomingHttpHeaders;
  /**
   * The app's request body (for a Koa route, `ctx.req`). Forwarded only when `headers` announce one
   * with Content-Length or Transfer-Encoding (RFC 9112 §6.3); the proxy never destroys it.
   */
  body?: Readable | undefined;
  accessToken: string;
  /** The token type the provider gave (`bearer` is sent as `Bearer`); default Bearer. */
  tokenType?: string | undefined;
  /**
   * Aborts the upstream call, for example when the app's client goes away. undici takes an
   * AbortSignal or an EventEmitter that emits 'abort' (lighter per call).
   */
  signal?: AbortSignal | EventEmitter | undefined;
}

export interface ProxyResponse {
  status: number;
  /** The provider's headers, minus hop-by-hop ones and Set-Cookie. */
  headers: Record<string, string | string[]>;
  /**
   * The provider's body, unchanged (undici's own stream, piped as is). It errors with undici's error
   * when the provider fails mid-way or the body passes maxResponseBytes; asVaultError() classifies one.
   * A body that will not be read is let go with `dump()`.
   */
  body: Dispatcher.ResponseData['body'];
}

export interface VaultProxy {
  forward(request: ProxyRequest): Promise<ProxyResponse>;
  /** Closes the proxy's own connections (not those of an outbound client passed in). */
  close(): Promise<void>;
}

const MIB = 1024 * 1024;
const DEFAULTS = { timeoutMs: 30_000, maxRequestBytes: 10 * MIB, maxResponseBytes: 50 * MIB };
/** undici's own default; a slow TCP or TLS handshake past this is a dead provider, not a slow one. */
const MAX_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Request headers that are end-to-end and carry no credential of Latchkey's or of the app's. Beyond
 * the obvious content and conditional headers: `accept-encoding`, since the body comes back as the
 * provider encoded it; `if-range`, which goes with `range`; `prefer` (RFC 7240) and
 * `idempotency-key`, which some APIs need for writes.
 */
const FORWARDED_REQUEST_HEADERS = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'content-encoding',
  'content-length',
  'content-type',
  'idempotency-key',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'prefer',
  'range',
  'user-agent',
]);

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1): meaningful for one connection only, so never passed on.
 * Proxy-Authenticate / Proxy-Authorization (RFC 9110 §11.7) concern the proxy itself, not the ends.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** TRACE echoes the request, token included, back to the caller; CONNECT would open a tunnel. */
const REFUSED_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
/** An auth-scheme is a token (RFC 9110 §11.1, §5.6.2). */
const AUTH_SCHEME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const DIGITS = /^\d+$/;

/**
 * Extra hop-by-hop fields that a Connection header names (RFC 9110 §7.6.1), lower-cased; undefined
 * when there are none, which is the usual case (`keep-alive` or `close`).
 */
function connectionOptions(connection: string | string[] | undefined): string[] | undefined {
  if (connection === undefined) return undefined;
  const value = Array.isArray(connection) ? connection.join(',') : connection;
  if (value === 'keep-alive' || value === 'close') return undefined;
  return value.split(',').map((option) => option.trim().toLowerCase());
}

function isForwardedRequestHeader(name: string): boolean {
  if (FORWARDED_REQUEST_HEADERS.has(name)) return true;
  // x- headers are the app's own extensions to the provider's API (`x-github-api-version`), but not
  // those that describe the app's client to us (X-Forwarded-*, X-Real-IP) or are Latchkey's own.
  return (
    name.startsWith('x-') &&
    !name.startsWith('x-forwarded-') &&
    name !== 'x-real-ip' &&
    !name.startsWith('x-latchkey-')
  );
}

/**
 * The headers sent upstream: the allow-list only, so the app's Authorization (its Latchkey token),
 * Cookie, DPoP proof and Host never leave, then the provider token.
 */
function requestHeaders(
  incoming: IncomingHttpHeaders,
  authorization: string,
  withBody: boolean,
): Record<string, string | string[]> {
  const named = connectionOptions(incoming.connection);
  const headers: Record<string, string | string[]> = {};
  for (const key in incoming) {
    const value = incoming[key];
    if (value === undefined) continue;
    const name = key.toLowerCase();
    if (!isForwardedRequestHeader(name) || named?.includes(name) === true) continue;
    // Without a body, undici frames the request itself; a stale length would not match.
    if (name === 'content-length' && !withBody) continue;
    headers[name] = value;
  }
  headers.authorization = authorization;
  return headers;
}

/** The provider's headers for the app: hop-by-hop ones (RFC 9110 §7.6.1) and Set-Cookie removed. */
function responseHeaders(upstream: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = connectionOptions(upstream.connection);
  const headers: Record<string, string | string[]> = {};
  for (const name in upstream) {
    const value = upstream[name];
    // Set-Cookie is dropped: the provider's cookies belong to the provider's domain, and passed on
    // they would land on Latchkey's domain instead (RFC 6265 §5.3), shared by every connection.
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'set-cookie') continue;
    if (named?.includes(name) === true) continue;
    headers[name] = value;
  }
  return headers;
}

function authorizationHeader(accessToken: string, tokenType: string | undefined): string {
  if (tokenType === undefined || tokenType.toLowerCase() === 'bearer') return `Bearer ${accessToken}`;
  if (!AUTH_SCHEME.test(tokenType)) {
    throw new VaultError('provider_error', 502, 'The provider issued a token type that cannot be sent.');
  }
  return `${tokenType} ${accessToken}`;
}

function withCause(error: VaultError, cause: unknown): VaultError {
  error.cause = cause;
  return error;
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** undici's and the network's failures as the vault's error codes. */
export function asVaultError(error: Error): Error {
  if (error instanceof VaultError) return error;
  const refusal = outboundRefusalOf(error);
  if (refusal) {
    // The outbound guard refused the provider's address; its listener has logged it.
    return withCause(
      new VaultError(
        'provider_error',
        502,
        `The provider's address is refused: ${refusal.host} ${refusal.reason}.`,
      ),
      error,
    );
  }
  const code = (error as { code?: unknown }).code;
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
    return withCause(
      new VaultError('body_too_large', 502, "The provider's response is larger than the proxy allows."),
      error,
    );
  }
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) {
    return withCause(new VaultError('provider_timeout', 504, 'The provider did not answer in time.'), error);
  }
  // The caller gave up (its client went away): there is no one to answer.
  if (code === 'UND_ERR_ABORTED' || error.name === 'AbortError') return error;
  if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    return withCause(
      new VaultError('invalid_request', 400, 'The request cannot be forwarded as sent.'),
      error,
    );
  }
  // Refused or reset connections, DNS failures, TLS failures, malformed answers.
  return withCause(new VaultError('provider_unavailable', 502, 'The provider could not be reached.'), error);
}

function tooLarge(side: 'request' | 'response', limit: number): VaultError {
  return side === 'request'
    ? new VaultError('body_too_large', 413, `The request body is larger than ${limit} bytes.`)
    : new VaultError('body_too_large', 502, `The provider's response is larger than ${limit} bytes.`);
}

/**
 * Passes the app's request body through while counting it, failing once it passes the limit: bodies
 * are streamed, never held whole, so the limit has to be enforced on the way. Also the proxy's own
 * end of the body, so that undici destroying it on failure never destroys the app's request stream.
 */
class ByteLimit extends Transform {
  readonly limit: number;
  #received = 0;

  constructor(limit: number) {
    super();
    this.limit = limit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#received += chunk.length;
    if (this.#received > this.limit) callback(tooLarge('request', this.limit));
    else callback(null, chunk);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    callback(error === null ? null : asVaultError(error));
  }
}

/** The app's body, through a ByteLimit; piped, not pipeline()d, so a failure upstream leaves it alone. */
function limitedRequestBody(source: Readable, limit: number): ByteLimit {
  const limited = new ByteLimit(limit);
  source.pipe(limited);
  finished(source, { writable: false }, (error) => {
    if (error) {
      limited.destroy(
        withCause(
          new VaultError('invalid_request', 400, 'The request body ended before it was complete.'),
          error,
        ),
      );
    }
  });
  return limited;
}

/** Throws VaultError `invalid_request` (405) for a method the proxy never forwards. */
export function checkProxiedMethod(method: string): void {
  if (REFUSED_METHODS.has(method.toUpperCase())) {
    throw new VaultError('invalid_request', 405, `${method} cannot be proxied.`);
  }
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer`);
  return value;
}

export function createProxy(options: ProxyOptions = {}): VaultProxy {
  const timeoutMs = positiveInteger('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs);
  const maxRequestBytes = positiveInteger(
    'maxRequestBytes',
    options.maxRequestBytes,
    DEFAULTS.maxRequestBytes,
  );
  const maxResponseBytes = positiveInteger(
    'maxResponseBytes',
    options.maxResponseBytes,
    DEFAULTS.maxResponseBytes,
  );
  // One dispatcher for every provider: a keep-alive pool per origin, so a call reuses a warm
  // connection (and TLS session) instead of paying a handshake. It follows no redirects, so a
  // Location elsewhere goes back to the app as is and the token never follows it; and it dials no
  // private address unless the outbound rules are lifted.
  const ownOutbound =
    options.outbound === undefined
      ? createOutboundClient({
          allowPrivate: options.allowPrivate ?? false,
          streamTimeoutMs: timeoutMs,
          // Counted by undici as the body arrives: past it, the call fails and its connection closes.
          maxStreamBytes: maxResponseBytes,
          connectTimeoutMs: Math.min(timeoutMs, MAX_CONNECT_TIMEOUT_MS),
        })
      : undefined;
  const dispatcher: Dispatcher = (ownOutbound ?? (options.outbound as OutboundClient)).dispatcher;

  async function forward(request: ProxyRequest): Promise<ProxyResponse> {
    const { method, url, headers } = request;
    checkProxiedMethod(method);
    const declared = headers['content-length'];
    if (declared !== undefined && !DIGITS.test(declared)) {
      throw new VaultError('invalid_request', 400, 'The Content-Length header is not a number.');
    }
    const declaredBytes = declared === undefined ? undefined : Number(declared);
    // Refused before connecting: no need to open a connection only to cut the body off.
    if (declaredBytes !== undefined && declaredBytes > maxRequestBytes)
      throw tooLarge('request', maxRequestBytes);
    const withBody =
      request.body !== undefined &&
      (declaredBytes === undefined ? headers['transfer-encoding'] !== undefined : declaredBytes > 0);
    const upstreamHeaders = requestHeaders(
      headers,
      authorizationHeader(request.accessToken, request.tokenType),
      withBody,
    );

    // request(), not stream(): its body goes to the app as undici made it, piped straight into the
    // response, with no stream of the proxy's own in between (measured: a fifth less CPU per call).
    let answer: Dispatcher.ResponseData;
    try {
      answer = await dispatcher.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method,
        headers: upstreamHeaders,
        body: withBody ? limitedRequestBody(request.body as Readable, maxRequestBytes) : null,
        signal: request.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (error) {
      throw asVaultError(error as Error);
    }
    const length = answer.headers['content-length'];
    if (method !== 'HEAD' && typeof length === 'string' && Number(length) > maxResponseBytes) {
      // Known too large before a byte is read: fail the call whole rather than cut a body short.
      // dump() drops the body (and its connection, past a small size) and swallows its error.
      void answer.body.dump();
      throw tooLarge('response', maxResponseBytes);
    }
    return { status: answer.statusCode, headers: responseHeaders(answer.headers), body: answer.body };
  }

  return {
    forward,
    close: () => (ownOutbound === undefined ? Promise.resolve() : ownOutbound.close()),
  };
}
