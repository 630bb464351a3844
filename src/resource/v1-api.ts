// The built-in `/v1` API as a registered resource server (RFC 8707), so that clients can ask for
// JWT access tokens meant for it with `resource=<issuer>/v1`.
import type { ApiService } from '../authorization/apis.js';
import type { ApiRecord } from '../store/types.js';

/** The resource indicator of Latchkey's own /v1 API. */
export function V1_API_IDENTIFIER(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/v1`;
}

/** What /v1 tokens may carry: the scopes whose claims /v1/users/me releases. */
export const V1_API_SCOPES = ['profile', 'email'] as const;

/** Registers the /v1 API at start-up unless it is there already. */
export function ensureV1Api(apis: Pick<ApiService, 'ensure'>, issuer: string): Promise<ApiRecord> {
  return apis.ensure({
    identifier: V1_API_IDENTIFIER(issuer),
    name: 'Latchkey /v1',
    scope: V1_API_SCOPES.join(' '),
    format: 'jwt',
  });
}
