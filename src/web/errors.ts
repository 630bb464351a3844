// One error model for our own routes: `status`, `expose`, an OAuth `error` code and a public
// `error_description` (the fields Koa's ctx.onerror reads). Anything else is a 500 with no detail.
import type { Context, Next } from 'koa';
import { pageErrorPage, type PageLink } from './error-pages.js';
import { renderView } from './views.js';

/** How an error page names the problem and the way on (pages only; JSON answers ignore it). */
export interface ErrorPageHint {
  heading?: string;
  action?: PageLink;
}

export class HttpError extends Error {
  readonly expose = true;
  constructor(
    readonly status: number,
    readonly error: string,
    readonly error_description: string,
    readonly page?: ErrorPageHint,
  ) {
    super(error_description);
    this.name = 'HttpError';
  }
}

interface ErrorShape {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  error?: string;
  error_description?: string;
  message?: string;
}

/** The public face of an error: never a stack, never an internal message on a 5xx. */
export function publicError(error: unknown): { status: number; error: string; error_description: string } {
  const shape = (error ?? {}) as ErrorShape;
  const status = shape.status ?? shape.statusCode ?? 500;
  if (status >= 500 || status < 400 || !shape.expose) {
    if (status >= 400 && status < 500) {
      return { status, error: 'invalid_request', error_description: 'The request could not be processed.' };
    }
    return { status: 500, error: 'server_error', error_description: 'An unexpected error occurred.' };
  }
  return {
    status,
    error: shape.error ?? 'invalid_request',
    error_description: shape.error_description ?? shape.message ?? 'invalid request',
  };
}

/** For page routes: renders the error page (in plain words, ./error-pages.ts). */
export async function renderErrors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    const out = publicError(error);
    if (out.status >= 500) ctx.state.log?.error({ err: error }, 'request failed');
    ctx.status = out.status;
    ctx.type = 'html';
    const hint = out.status < 500 && error instanceof HttpError ? error.page : undefined;
    ctx.body = renderView(
      'error',
      pageErrorPage({
        error: out.error,
        errorDescription: out.error_description,
        status: out.status,
        requestId: ctx.state.requestId,
        heading: hint?.heading,
        action: hint?.action,
      }),
    );
  }
}

/**
 * A browser that asks for an address no route answers (a mistyped /device link) gets the error
 * page in plain words, not Koa's bare "Not Found". Clients that prefer JSON keep the bare 404.
 */
export async function notFoundPage(ctx: Context, next: Next): Promise<void> {
  await next();
  if (ctx.status !== 404 || ctx.body != null) return;
  if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || ctx.accepts('json', 'html') !== 'html') return;
  ctx.type = 'html';
  ctx.body = renderView(
    'error',
    pageErrorPage({
      error: 'not_found',
      errorDescription:
        'There is nothing at this address. Check that it was typed correctly, or go back to the app that sent you here.',
      status: 404,
      requestId: ctx.state.requestId,
      heading: 'Page not found',
    }),
  );
  // Setting a body makes Koa answer 200 unless told otherwise.
  ctx.status = 404;
}

/** For JSON API routes: `{ error, error_description }` bodies. */
export async function jsonErrors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    const out = publicError(error);
    if (out.status >= 500) ctx.state.log?.error({ err: error }, 'request failed');
    ctx.status = out.status;
    ctx.body = { error: out.error, error_description: out.error_description };
  }
}
