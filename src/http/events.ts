// Domain events from oidc-provider, turned into structured log lines. Subscribers read ids and
// error codes only: tokens and secrets never reach a log.
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';

type OidcError = Error & { error?: string; error_description?: string; status?: number };

export function subscribeProviderEvents(provider: Provider, logger: Logger): void {
  const log = logger.child({ area: 'authorization' });
  const clientOf = (ctx: any) => ctx?.oidc?.client?.clientId as string | undefined;
  const requestOf = (ctx: any) => ctx?.state?.requestId as string | undefined;

  provider.on('grant.success', (ctx: any) => {
    log.info({
      event: 'grant.success',
      requestId: requestOf(ctx),
      clientId: clientOf(ctx),
      grantType: ctx?.oidc?.params?.grant_type,
    });
  });
  provider.on('grant.revoked', (ctx: any, grantId: string) => {
    log.info({ event: 'grant.revoked', requestId: requestOf(ctx), clientId: clientOf(ctx), grantId });
  });
  provider.on('end_session.success', (ctx: any) => {
    log.info({ event: 'end_session.success', requestId: requestOf(ctx), clientId: clientOf(ctx) });
  });
  for (const name of [
    'grant.error',
    'authorization.error',
    'introspection.error',
    'revocation.error',
    'userinfo.error',
    'end_session.error',
    'pushed_authorization_request.error',
    'code_verification.error',
    'device_authorization.error',
    'backchannel.error',
    'jwks.error',
    'discovery.error',
    'check_session_origin.error',
  ]) {
    (provider as unknown as { on(event: string, listener: (ctx: any, error: OidcError) => void): void }).on(
      name,
      (ctx, error) => {
        log.info({
          event: name,
          requestId: requestOf(ctx),
          clientId: clientOf(ctx),
          error: error.error ?? error.name,
          description: error.error_description ?? error.message,
        });
      },
    );
  }
  provider.on('server_error', (ctx: any, error: Error) => {
    log.error({ event: 'server_error', requestId: requestOf(ctx), err: error });
  });
}
