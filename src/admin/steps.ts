// The named steps every admin route is a pipeline of: no caching, the token and its scope, the
// body read (size-limited), each request part through its schema, then the handler and the
// answer through its schema (so nothing leaves that the document does not describe).
import { requireToken, type ResourceProvider } from '@latchkey/resource';
import type { Context, Middleware, Next } from 'koa';
import { z } from 'zod';
import { jsonBody } from '../web/request-body.js';
import type { AdminRoute, RouteRequest } from './route-table.js';
import { parsePart } from './validation.js';

/** A route without a query schema takes no query parameters. */
const NO_QUERY = z.object({}).strict();

/** Admin answers carry secrets (once) and live data: never cached (RFC 9111 §5.2.2.5). */
export async function noStore(ctx: Context, next: Next): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  await next();
}

/** 401 without a valid token, 403 insufficient_scope without the scope (RFC 6750 §3). */
export function requireScope(resource: ResourceProvider, scope: string): Middleware {
  return requireToken(resource, { scopes: [scope] }) as unknown as Middleware;
}

export const readJsonBody: Middleware = jsonBody;

/** Checks path, query and body against the route's schemas; the result is the handler's input. */
export function parseRequest(spec: AdminRoute): Middleware {
  return async function parseRequest(ctx: Context, next: Next): Promise<void> {
    const request: RouteRequest<unknown, unknown, unknown> = {
      params: spec.params ? parsePart('params', spec.params, ctx.params) : undefined,
      query: parsePart('query', spec.query ?? NO_QUERY, { ...ctx.query }),
      body: spec.body ? parsePart('body', spec.body, ctx.request.body) : undefined,
    };
    ctx.state.adminRequest = request;
    await next();
  };
}

/** Runs the handler and sends what it returns, as the route's answer schema has it. */
export function answer(spec: AdminRoute): Middleware {
  return async function answer(ctx: Context): Promise<void> {
    const result = await spec.handle(ctx.state.adminRequest as RouteRequest<unknown, unknown, unknown>);
    const checked = spec.answer.schema.safeParse(result);
    // An answer that does not fit its own schema is our bug: a 500, logged, never sent half-checked.
    if (!checked.success)
      throw new Error(`${spec.operationId} answered outside its schema: ${checked.error.message}`);
    ctx.status = spec.answer.status;
    ctx.body = checked.data;
  };
}
