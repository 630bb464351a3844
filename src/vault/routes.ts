// The vault API (everything under /vault). Routes only wire steps together: parse at the edge
// (zod, strict), call a service with plain arguments, shape the response.
import Router from '@koa/router';
import { requireToken, type ResourceAuthorization, type ResourceProvider } from '@latchkey/resource';
import compose from 'koa-compose';
import type { Context, Middleware, Next } from 'koa';
import { z } from 'zod';
import { publicError } from '../web/errors.js';
import { localPath } from '../web/mount-path.js';
import { jsonBody } from '../web/request-body.js';
import { renderView } from '../web/views.js';
import { listProviders } from './catalog.js';
import { connectionView } from './connections.js';
import { integrationView } from './integrations.js';
import { proxyRequest } from './proxy-route.js';
import type { Vault } from './vault.js';
import { VaultError } from './types.js';

const BINDING_COOKIE = 'latchkey.vault';
const keyPattern = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const integrationInput = z
  .object({
    key: z.string().regex(keyPattern, 'lower-case letters, digits, ".", "_" or "-", at most 64'),
    provider: z.string().min(1).max(64),
    client_id: z.string().min(1).max(512),
    client_secret: z.string().min(1).max(4096).optional(),
    scopes: z.array(z.string().min(1).max(256)).max(100).optional(),
    issuer: z.url({ protocol: /^https?$/ }).optional(),
    authorization_params: z.record(z.string().max(64), z.string().max(1024)).optional(),
  })
  .strict();

const integrationChanges = integrationInput.omit({ key: true, provider: true }).partial().strict();

const connectSessionInput = z
  .object({
    integration: z.string().regex(keyPattern),
    end_user_id: z.string().min(1).max(256),
    return_url: z.url({ protocol: /^https?$/ }),
  })
  .strict();

const tokenInput = z.object({ include_refresh_token: z.boolean().optional() }).strict();

function appId(ctx: Context): string {
  return (ctx.state.auth as ResourceAuthorization).clientId;
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.join('.') || 'body';
    throw new VaultError('invalid_request', 400, `${field}: ${issue.message}`);
  }
  return result.data;
}

function noStore(ctx: Context, next: Next) {
  ctx.set('Cache-Control', 'no-store');
  return next();
}

/** `{ error, code, error_description }` with the status the error carries; never a stack. */
async function vaultErrors(ctx: Context, next: Next) {
  try {
    await next();
  } catch (error) {
    if (error instanceof VaultError) {
      ctx.status = error.status;
      if (error.retryAfter !== undefined) ctx.set('Retry-After', String(error.retryAfter));
      ctx.body = { error: error.code, code: error.code, error_description: error.message };
      return;
    }
    // Anything else (an unreadable body, a bug) takes the shared public shape; 5xx hide details.
    const out = publicError(error);
    if (out.status >= 500) ctx.state.log?.error({ err: error }, 'vault request failed');
    ctx.status = out.status;
    ctx.body = {
      error: out.error,
      code: out.status >= 500 ? 'server_error' : 'invalid_request',
      error_description: out.error_description,
    };
  }
}

/** Browser pages of the connect flow: errors become the error page. */
async function pageErrors(ctx: Context, next: Next) {
  try {
    await next();
  } catch (error) {
    const vaultError =
      error instanceof VaultError
        ? error
        : new VaultError('provider_error', 502, 'Something went wrong while connecting.');
    if (!(error instanceof VaultError)) ctx.state.log?.error({ err: error }, 'connect flow failed');
    ctx.status = vaultError.status;
    ctx.type = 'html';
    ctx.body = renderView('error', {
      title: 'Could not connect',
      error: vaultError.code,
      errorDescription: vaultError.message,
      status: vaultError.status,
      requestId: ctx.state.requestId,
    });
  }
}

export function vaultRoutes(vault: Vault, resource: ResourceProvider): Router {
  const router = new Router({ prefix: '/vault' });
  const scope = (name: string) => requireToken(resource, { scopes: [name] });
  const api = [noStore, vaultErrors] as const;

  router.get('/providers', ...api, scope('vault:connect'), (ctx) => {
    ctx.body = {
      providers: listProviders().map(({ name, displayName, kind }) => ({
        name,
        display_name: displayName,
        kind,
      })),
    };
  });

  router.post('/integrations', ...api, scope('vault:admin'), jsonBody, async (ctx) => {
    const input = parse(integrationInput, ctx.request.body);
    const record = await vault.integrations.create(appId(ctx), {
      key: input.key,
      provider: input.provider,
      clientId: input.client_id,
      clientSecret: input.client_secret,
      scopes: input.scopes,
      issuer: input.issuer,
      authorizationParams: input.authorization_params,
    });
    ctx.status = 201;
    ctx.body = { ...integrationView(record), redirect_uri: vault.connectFlow.callbackUrl };
  });
  router.get('/integrations', ...api, scope('vault:admin'), async (ctx) => {
    ctx.body = { integrations: (await vault.integrations.list(appId(ctx))).map(integrationView) };
  });
  router.get('/integrations/:key', ...api, scope('vault:admin'), async (ctx) => {
    ctx.body = {
      ...integrationView(await vault.integrations.get(appId(ctx), ctx.params.key!)),
      redirect_uri: vault.connectFlow.callbackUrl,
    };
  });
  router.patch('/integrations/:key', ...api, scope('vault:admin'), jsonBody, async (ctx) => {
    const input = parse(integrationChanges, ctx.request.body);
    const record = await vault.integrations.update(appId(ctx), ctx.params.key!, {
      clientId: input.client_id,
      clientSecret: input.client_secret,
      scopes: input.scopes,
      issuer: input.issuer,
      authorizationParams: input.authorization_params,
    });
    ctx.body = integrationView(record);
  });
  router.delete('/integrations/:key', ...api, scope('vault:admin'), async (ctx) => {
    await vault.integrations.remove(appId(ctx), ctx.params.key!);
    ctx.status = 204;
  });

  router.post('/connect-sessions', ...api, scope('vault:connect'), jsonBody, async (ctx) => {
    const input = parse(connectSessionInput, ctx.request.body);
    ctx.status = 201;
    ctx.body = await vault.connectFlow.createSession(appId(ctx), {
      integrationKey: input.integration,
      endUserId: input.end_user_id,
      returnUrl: input.return_url,
    });
  });

  router.get('/connect/:token', noStore, pageErrors, async (ctx) => {
    const { location, binding } = await vault.connectFlow.start(ctx.params.token!);
    ctx.cookies.set(BINDING_COOKIE, binding, {
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      signed: true,
      path: localPath(ctx, '/vault/callback'),
      maxAge: 10 * 60 * 1000,
    });
    ctx.redirect(location);
  });
  router.get('/callback', noStore, pageErrors, async (ctx) => {
    const params = new URLSearchParams(ctx.querystring);
    const { location } = await vault.connectFlow.callback(
      params,
      ctx.cookies.get(BINDING_COOKIE, { signed: true }),
    );
    ctx.cookies.set(BINDING_COOKIE, null, { path: localPath(ctx, '/vault/callback'), signed: true });
    ctx.redirect(location);
  });

  router.get('/connections', ...api, scope('vault:connect'), async (ctx) => {
    const filter = {
      ...(typeof ctx.query.integration === 'string' ? { integrationKey: ctx.query.integration } : {}),
      ...(typeof ctx.query.end_user_id === 'string' ? { endUserId: ctx.query.end_user_id } : {}),
    };
    ctx.body = { connections: (await vault.connections.list(appId(ctx), filter)).map(connectionView) };
  });
  router.get('/connections/:integration/:endUserId', ...api, scope('vault:connect'), async (ctx) => {
    ctx.body = connectionView(
      await vault.connections.get(appId(ctx), ctx.params.integration!, ctx.params.endUserId!),
    );
  });
  router.delete('/connections/:integration/:endUserId', ...api, scope('vault:connect'), async (ctx) => {
    const result = await vault.connections.remove(appId(ctx), ctx.params.integration!, ctx.params.endUserId!);
    ctx.body = { deleted: true, revoked_at_provider: result.revokedAtProvider };
  });

  router.post(
    '/connections/:integration/:endUserId/token',
    ...api,
    scope('vault:tokens'),
    jsonBody,
    async (ctx) => {
      const input = parse(tokenInput, ctx.request.body);
      const auth = ctx.state.auth as ResourceAuthorization;
      if (input.include_refresh_token && !auth.scopes.includes('vault:admin')) {
        throw new VaultError('invalid_request', 403, 'include_refresh_token needs the vault:admin scope');
      }
      const { connection, tokens } = await vault.broker.freshToken(
        auth.clientId,
        ctx.params.integration!,
        ctx.params.endUserId!,
      );
      ctx.body = {
        access_token: tokens.access_token,
        token_type: tokens.token_type,
        expires_at: connection.expiresAt ? new Date(connection.expiresAt).toISOString() : null,
        scopes: connection.scopes,
        ...(input.include_refresh_token && tokens.refresh_token
          ? { refresh_token: tokens.refresh_token }
          : {}),
      };
    },
  );

  return router;
}

/**
 * `/vault/proxy/:integration/:endUserId/<path>` for any method. Outside the router: the rest of
 * the path must reach the proxy exactly as the client sent it (still percent-encoded) so that
 * its checks see what the provider would see.
 */
export function vaultProxy(vault: Vault, resource: ResourceProvider) {
  const steps = compose([
    noStore,
    vaultErrors,
    requireToken(resource, { scopes: ['vault:proxy'] }) as Middleware,
    proxyRequest(vault),
  ]);
  return async function vaultProxyRoute(ctx: Context, next: Next) {
    if (!ctx.path.startsWith('/vault/proxy/')) return next();
    await steps(ctx, async () => undefined);
  };
}
