// Koa middleware: require a valid access token before the route runs. Typed structurally, so
// that an API using this package needs Koa only if it uses this function.
import { ResourceError } from './errors.js';
import type { ResourceProvider } from './resource-provider.js';
import type { AuthenticateOptions, ResourceAuthorization } from './types.js';

/** The parts of a Koa context the middleware uses. */
export interface KoaContextLike {
  method: string;
  href: string;
  headers: Record<string, string | string[] | undefined>;
  request: { body?: unknown };
  state: Record<string, unknown>;
  status: number;
  body: unknown;
  set(field: string, value: string): void;
}

export type KoaNext = () => Promise<unknown>;

/**
 * Sets `ctx.state.auth` to the ResourceAuthorization and calls the route; answers 400, 401, 403
 * or 503 with a WWW-Authenticate challenge and a `{ error, error_description }` body otherwise.
 * A ResourceError thrown by the route itself (say, insufficient_scope for one field) gets the
 * same treatment, in the scheme the client used.
 */
export function requireToken(resource: ResourceProvider, options: AuthenticateOptions = {}) {
  return async function requireToken(ctx: KoaContextLike, next: KoaNext): Promise<void> {
    let auth: ResourceAuthorization;
    try {
      auth = await resource.authenticate(
        { method: ctx.method, url: ctx.href, headers: ctx.headers, body: ctx.request.body },
        options,
      );
    } catch (error) {
      respond(ctx, resource, error);
      return;
    }
    ctx.state.auth = auth;
    try {
      await next();
    } catch (error) {
      if (!(error instanceof ResourceError)) throw error;
      respond(ctx, resource, error, auth.tokenType);
    }
  };
}

function respond(
  ctx: KoaContextLike,
  resource: ResourceProvider,
  error: unknown,
  scheme?: 'Bearer' | 'DPoP',
): void {
  // Anything but a ResourceError is a fault of ours: leave it to the app's error handling.
  if (!(error instanceof ResourceError)) throw error;
  const response = resource.errorResponse(error, scheme);
  for (const [name, value] of Object.entries(response.headers)) ctx.set(name, value);
  ctx.status = response.status;
  ctx.body = response.body;
}
