// Where Latchkey is served from: the issuer's path ('' at the root of its host), under which a
// host app mounts it. The composition root sets it on every request as `ctx.mountPath`
// (koa-mount's name, which oidc-provider also reads to build its own URLs); redirects and cookie
// paths of Latchkey's own put it in front of their paths (pages get it through ./views.ts).
import type { Context } from 'koa';

export function mountPath(ctx: Context): string {
  return (ctx as Context & { mountPath?: string }).mountPath ?? '';
}

/** One of Latchkey's root-relative paths (`/account`) as the browser must see it. */
export function localPath(ctx: Context, path: string): string {
  return `${mountPath(ctx)}${path}`;
}
