// CSRF protection for our own forms (login, consent, account): a per-browser secret in a signed
// HttpOnly cookie and a token per rendered form (pillarjs `csrf`), checked on every POST.
import Tokens from 'csrf';
import type { Context, Next } from 'koa';

const tokens = new Tokens();
const COOKIE = 'latchkey.csrf';

function cookieOptions(ctx: Context) {
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    signed: true,
    secure: ctx.secure,
    overwrite: true,
    path: '/',
  };
}

/** A token for a form on the page being rendered (creates the browser's secret if needed). */
export function csrfToken(ctx: Context): string {
  let secret = ctx.cookies.get(COOKIE, { signed: true });
  if (!secret) {
    secret = tokens.secretSync();
    ctx.cookies.set(COOKIE, secret, cookieOptions(ctx));
  }
  return tokens.create(secret);
}

export class CsrfError extends Error {
  readonly status = 403;
  readonly expose = true;
  readonly error = 'invalid_request';
  readonly error_description = 'The form expired or came from another site. Go back and try again.';
}

/** Middleware for POST routes: rejects a request whose `_csrf` field does not match the cookie. */
export async function verifyCsrf(ctx: Context, next: Next): Promise<void> {
  const secret = ctx.cookies.get(COOKIE, { signed: true });
  const token = (ctx.request.body as Record<string, unknown> | undefined)?._csrf;
  // tokens.verify compares in constant time.
  if (!secret || typeof token !== 'string' || !tokens.verify(secret, token)) throw new CsrfError();
  await next();
}
