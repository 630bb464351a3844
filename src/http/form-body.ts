// Parses the urlencoded bodies of our own forms (login, consent, account). Any body that cannot be
// read (too large, bad encoding, a gzip header on plain bytes) is the client's fault: a 4xx.
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { HttpError } from './errors.js';

const parse = bodyParser({ enableTypes: ['form'], formLimit: '16kb', encoding: 'utf-8' });

export async function formBody(ctx: Context, next: Next): Promise<void> {
  let parsed = false;
  try {
    await parse(ctx, async () => {
      parsed = true;
    });
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === 413) throw new HttpError(413, 'invalid_request', 'The form is too large.');
    if (status === 415)
      throw new HttpError(415, 'invalid_request', 'The form has an encoding this server does not accept.');
    throw new HttpError(400, 'invalid_request', 'The form could not be read.');
  }
  if (parsed) await next();
}
