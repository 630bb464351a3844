// Plain node:http: `resource.authenticate(req)` answers with the ResourceAuthorization or throws,
// and sendResourceError writes the RFC 6750 §3 answer for what it threw. Typed structurally, so
// that any ServerResponse-like object fits (Express's `res` is one).
import type { ResourceProvider } from './resource-provider.js';

/** The parts of Node's ServerResponse the helper uses. */
export interface ServerResponseLike {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}

/**
 * Writes the answer for a failed check: 400, 401, 403 or 503 with the WWW-Authenticate challenge
 * and a `{ error, error_description }` JSON body. Anything but a ResourceError is a fault of the
 * API's own and becomes a bare 500, so that no detail of it reaches the client. `scheme` names the
 * scheme of a token already accepted (`auth.tokenType`), for errors a route raises after the check.
 */
export function sendResourceError(
  res: ServerResponseLike,
  resource: ResourceProvider,
  error: unknown,
  scheme?: 'Bearer' | 'DPoP',
): void {
  const { status, headers, body } = resource.errorResponse(error, scheme);
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}
