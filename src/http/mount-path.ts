// Latchkey under a path of a host app: the issuer's path (`https://app.example.com/oauth`) is
// where everything is served, whether the request arrives with that path (node:http, a proxy
// that forwards it) or without it (Express's `app.use('/oauth', …)`, koa-mount). Either way the
// routes see their own paths, and `ctx.mountPath` (koa-mount's name, which oidc-provider reads
// for the URLs it builds; ../web/mount-path.ts for ours) is the issuer's path.
import type Koa from 'koa';
import type { Context, Next } from 'koa';

/** The issuer's path without a trailing slash: '' for an issuer at the root of its host. */
export function issuerPath(issuer: string): string {
  return new URL(issuer).pathname.replace(/\/$/, '');
}

export function underIssuerPath(basePath: string) {
  return function underIssuerPath(ctx: Context, next: Next): Promise<unknown> {
    if (ctx.path === basePath || ctx.path.startsWith(`${basePath}/`)) {
      ctx.path = ctx.path.slice(basePath.length) || '/';
    } else {
      // The host took the path off: put it back where the request's own URL is read (ctx.href,
      // the DPoP `htu` check of RFC 9449 §4.3).
      ctx.originalUrl = ctx.request.originalUrl = `${basePath}${ctx.originalUrl}`;
    }
    (ctx as Context & { mountPath: string }).mountPath = basePath;
    return next();
  };
}

/**
 * koa-mount runs a mounted app's middleware on the host's context, with the host's cookie keys,
 * proxy setting and error handling. Such a request is served by Latchkey's own app instead (its
 * keys sign Latchkey's cookies), on the same request and response.
 */
export function ownContext(app: Koa) {
  let handle: ReturnType<Koa['callback']> | undefined;
  return function ownContext(ctx: Context, next: Next): Promise<unknown> {
    if (ctx.app === app) return next();
    handle ??= app.callback();
    ctx.respond = false;
    return handle(ctx.req, ctx.res);
  };
}
