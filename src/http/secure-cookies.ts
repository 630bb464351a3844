// `Secure` cookies whenever the issuer is https. Koa, and oidc-provider through it, mark a cookie
// Secure only when the request itself looks encrypted (ctx.secure): behind a TLS proxy without
// TRUST_PROXY=true every request looks like plain HTTP, and session cookies went out without the
// flag. The issuer is the public address, so an https issuer decides instead; such a deployment is
// also told, once, that it should trust its proxy (the client addresses that login throttling
// counts are the proxy's otherwise).
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

export const PLAIN_HTTP_WARNING =
  'ISSUER is https but requests arrive over plain HTTP: set TRUST_PROXY=true behind a TLS proxy';

/** Paths that load balancers and monitoring probe directly, often over plain HTTP. */
const PROBES = new Set(['/healthz', '/metrics']);

export function issuerIsHttps(issuer: string): boolean {
  return issuer.startsWith('https:');
}

/**
 * Makes every request of `app` count as secure for cookies (Koa's ctx.secure, which its cookie jar
 * and oidc-provider read). For apps serving an https issuer only.
 */
export function treatRequestsAsSecure(app: Koa): void {
  Object.defineProperty(app.request, 'secure', { configurable: true, get: () => true });
}

/** Logs PLAIN_HTTP_WARNING at the first request that arrives over plain HTTP. */
export function warnOfPlainHttp(logger: Logger) {
  let warned = false;
  return function warnOfPlainHttp(ctx: Context, next: Next): Promise<unknown> {
    // ctx.protocol is the real one: the socket's, or X-Forwarded-Proto with TRUST_PROXY.
    if (!warned && ctx.protocol !== 'https' && !PROBES.has(ctx.path)) {
      warned = true;
      logger.warn({ event: 'config.plain_http' }, PLAIN_HTTP_WARNING);
    }
    return next();
  };
}
