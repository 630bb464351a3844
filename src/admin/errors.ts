// The admin API's one error shape, `{ error, error_description }`, with the status each service
// error means: bad input 400, an unknown id 404, a conflict with the store 409. Token errors are
// answered before this by the checker (401 and 403, with WWW-Authenticate).
import type { Context, Next } from 'koa';
import { AccountInputError } from '../authorization/accounts.js';
import { ApiInputError } from '../authorization/apis.js';
import { GrantInputError } from '../authorization/client-grants.js';
import { ClientInputError } from '../authorization/clients.js';
import { NotFoundError } from '../authorization/errors.js';
import { StoreConflictError } from '../store/types.js';
import { VaultError } from '../vault/types.js';
import { publicError } from '../web/errors.js';

interface ErrorAnswer {
  status: number;
  error: string;
  error_description: string;
}

const INPUT_ERRORS = [ClientInputError, GrantInputError, ApiInputError, AccountInputError];

/** What a thrown error answers; anything unknown is a 500 that says nothing more. */
export function errorAnswer(error: unknown): ErrorAnswer {
  if (INPUT_ERRORS.some((type) => error instanceof type))
    return { status: 400, error: 'invalid_request', error_description: (error as Error).message };
  if (error instanceof NotFoundError)
    return { status: 404, error: 'not_found', error_description: error.message };
  if (error instanceof StoreConflictError)
    return { status: 409, error: 'conflict', error_description: error.message };
  if (error instanceof VaultError)
    return { status: error.status, error: error.code, error_description: error.message };
  // HttpError (unreadable bodies, failed schemas) and oidc-provider's exposed client-metadata errors.
  return publicError(error);
}

export async function adminErrors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    const { status, ...body } = errorAnswer(error);
    if (status >= 500) ctx.state.log?.error({ err: error }, 'admin request failed');
    ctx.status = status;
    ctx.body = body;
  }
}

/**
 * After the router: a path it does not know is a 404, a method it does not take a 405 (with the
 * router's Allow header), both as JSON.
 */
export async function unmatchedAsJson(ctx: Context, next: Next): Promise<void> {
  await next();
  if (ctx.body !== undefined && ctx.body !== null) return;
  if (ctx.status === 405 || ctx.status === 501) {
    ctx.body = {
      error: 'method_not_allowed',
      error_description: `${ctx.method} is not allowed here (allowed: ${ctx.response.get('Allow') || 'none'})`,
    };
  } else if (ctx.status === 404) {
    ctx.status = 404;
    ctx.body = { error: 'not_found', error_description: `no admin API route ${ctx.method} ${ctx.path}` };
  }
}
