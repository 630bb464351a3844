// Parses the bodies of our own routes: urlencoded forms (login, consent, account) and JSON (vault
// API). Any body that cannot be read (too large, bad encoding, a gzip header on plain bytes,
// invalid JSON) is the client's fault: a 4xx, never a 500.
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { HttpError } from './errors.js';

type Middleware = (ctx: Context, next: Next) => Promise<void>;

function readingErrorsAs4xx(parse: Middleware, what: string): Middleware {
  return async function readBody(ctx: Context, next: Next): Promise<void> {
    let parsed = false;
    try {
      await parse(ctx, async () => {
        parsed = true;
      });
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status === 413) throw new HttpError(413, 'invalid_request', `The ${what} is too large.`);
      if (status === 415) {
        throw new HttpError(
          415,
          'invalid_request',
          `The ${what} has an encoding this server does not accept.`,
        );
      }
      throw new HttpError(400, 'invalid_request', `The ${what} could not be read.`);
    }
    if (parsed) await next();
  };
}

export const formBody = readingErrorsAs4xx(
  bodyParser({ enableTypes: ['form'], formLimit: '16kb', encoding: 'utf-8' }) as unknown as Middleware,
  'form',
);

export const jsonBody = readingErrorsAs4xx(
  bodyParser({
    enableTypes: ['json'],
    jsonLimit: '64kb',
    encoding: 'utf-8',
    jsonStrict: true,
  }) as unknown as Middleware,
  'request body',
);
