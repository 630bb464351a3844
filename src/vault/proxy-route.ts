// The proxy step: finds the connection, attaches a fresh token, forwards the request to the
// provider's API base and streams the answer back unchanged. On a 401 it refreshes once and
// retries, when the request had no body to replay.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Context } from 'koa';
import type { ResourceAuthorization } from '@latchkey/resource';
import { checkProxiedPath, upstreamUrl } from './proxy-path.js';
import { checkProxiedMethod, type ProxyResponse } from './proxy.js';
import { VaultError } from './types.js';
import type { Vault } from './vault.js';

const PREFIX = '/vault/proxy/';

/** Splits the raw request target: integration and end user (decoded), the rest still encoded. */
function parseTarget(rawUrl: string): {
  integrationKey: string;
  endUserId: string;
  rawPath: string;
  rawQuery: string;
} {
  const queryAt = rawUrl.indexOf('?');
  const rawTarget = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  const rawQuery = queryAt === -1 ? '' : rawUrl.slice(queryAt + 1);
  const [integration, endUser, ...rest] = rawTarget.slice(PREFIX.length).split('/');
  if (!integration || !endUser)
    throw new VaultError('invalid_request', 400, 'expected /vault/proxy/<integration>/<end user id>/<path>');
  try {
    return {
      integrationKey: decodeURIComponent(integration),
      endUserId: decodeURIComponent(endUser),
      rawPath: rest.length ? `/${rest.join('/')}` : '',
      rawQuery,
    };
  } catch {
    throw new VaultError(
      'invalid_request',
      400,
      'the integration or end user id is not valid percent-encoding',
    );
  }
}

/**
 * Holds the socket's writes until the body's first chunk has been written after the head, so that
 * both leave in one system call: piped, a response otherwise sends its head on its own.
 */
function coalesceHeadWithFirstChunk(socket: Socket | null, body: Readable): void {
  if (!socket || socket.writableCorked) return;
  socket.cork();
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    // After pipe's own 'data' handler has written the chunk (listeners run in order).
    process.nextTick(() => socket.uncork());
  };
  body.once('data', release);
  body.once('end', release);
  body.once('close', release);
}

function hasBody(ctx: Context): boolean {
  return ctx.get('content-length') !== ''
    ? Number(ctx.get('content-length')) > 0
    : ctx.get('transfer-encoding') !== '';
}

export function proxyRequest(vault: Vault) {
  return async function proxyRequest(ctx: Context) {
    const appId = (ctx.state.auth as ResourceAuthorization).clientId;
    const target = parseTarget(ctx.req.url ?? '');
    // A request the proxy would refuse anyway is refused before the token lookup, which may
    // refresh the token at the provider.
    checkProxiedPath(target.rawPath, target.rawQuery);
    checkProxiedMethod(ctx.method);
    // The integration and the connection's token are read in one store round: the token's lookup
    // starts now, beside the integration's, and is awaited once the upstream URL is known.
    const integrationRead = vault.integrations.get(appId, target.integrationKey);
    const firstToken = vault.broker.freshToken(appId, target.integrationKey, target.endUserId, {
      integration: integrationRead,
    });
    // Awaited below unless an earlier step fails; its own failure is then of no interest.
    firstToken.catch(() => undefined);
    const integration = await integrationRead;
    const provider = await vault.upstream.resolve(vault.integrations.definitionOf(integration), integration);
    const base = provider.apiBaseUrl ?? provider.issuer;
    if (!base)
      throw new VaultError(
        'invalid_request',
        400,
        `integration ${integration.key} has no API base URL to proxy to`,
      );
    const url = upstreamUrl(base, target.rawPath, target.rawQuery);
    const withBody = hasBody(ctx);

    // Stop the upstream call when the app's client goes away. An EventEmitter rather than an
    // AbortController: undici takes either, and the emitter is the lighter (no AbortSignal, no
    // EventTarget listener per call).
    const hangUp = new EventEmitter();
    let hungUp = false;
    // (The response's close, not the request's: a request closes once its body has been read.)
    ctx.res.once('close', () => {
      if (ctx.res.writableFinished) return;
      hungUp = true;
      hangUp.emit('abort');
    });
    const send = async (force: boolean) => {
      // The retry's token: the integration just read goes along, the broker need not read it again.
      const { tokens } = force
        ? await vault.broker.freshToken(appId, target.integrationKey, target.endUserId, {
            force,
            integration,
          })
        : await firstToken;
      return vault.proxy.forward({
        method: ctx.method,
        url,
        headers: ctx.req.headers,
        body: withBody ? ctx.req : undefined,
        accessToken: tokens.access_token,
        tokenType: tokens.token_type,
        signal: hangUp,
      });
    };

    let response: ProxyResponse;
    try {
      response = await send(false);
      if (response.status === 401 && !withBody) {
        // The provider refused a token we thought valid (revoked, or expired early): refresh once.
        void response.body.dump();
        response = await send(true);
      }
    } catch (error) {
      if (!hungUp) throw error;
      // The app hung up, which ended the call: no one is left to answer, and nothing failed here.
      // 499 (a client that closed its request, as proxies log it) is for the access log.
      ctx.status = 499;
      ctx.respond = false;
      return;
    }
    // Written by hand, not through ctx.body: Koa would add a content type the provider did not send.
    ctx.respond = false;
    ctx.status = response.status;
    ctx.res.writeHead(response.status, response.headers);
    // pipe + finished rather than pipeline(): pipeline builds an AbortController (and a
    // DOMException) per call, a measurable share of a proxied request.
    response.body.once('error', () => ctx.res.destroy());
    response.body.pipe(ctx.res);
    coalesceHeadWithFirstChunk(ctx.res.socket, response.body);
    await finished(ctx.res).catch(() => response.body.destroy());
  };
}
