// Express middleware: require a valid access token before the route runs, and an error handler
// that answers the ResourceErrors routes throw. Typed structurally, so that an API using this
// package needs Express only if it uses these functions.
import { ResourceError } from './errors.js';
import { sendResourceError, type ServerResponseLike } from './node-http.js';
import type { ResourceProvider } from './resource-provider.js';
import type { AuthenticateOptions, ResourceAuthorization } from './types.js';

/** The parts of an Express request the middleware uses (Node's IncomingMessage fits too). */
export interface ExpressRequestLike {
  method?: string | undefined;
  /** The URL as the client sent it, before any router mount point was stripped from `url`. */
  originalUrl?: string | undefined;
  url?: string | undefined;
  /** `http` or `https`, by Express's `trust proxy` setting. */
  protocol?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  /** Set by expressRequireToken once the token is accepted. */
  auth?: ResourceAuthorization;
}

export type ExpressNext = (error?: unknown) => void;

/**
 * The request's URL for the DPoP htu check (RFC 9449 §4.3): `originalUrl`, because a mounted
 * router sees `url` without its mount path, and absolute when Express knows the protocol (behind
 * TLS the Host header alone would give `http:`). The checker's `publicOrigin` wins when set.
 */
function requestUrl(req: ExpressRequestLike): string | undefined {
  const path = req.originalUrl ?? req.url;
  const host = req.headers.host;
  if (path?.startsWith('/') && typeof req.protocol === 'string' && typeof host === 'string' && host !== '') {
    return `${req.protocol}://${host}${path}`;
  }
  return path;
}

/**
 * Sets `req.auth` to the ResourceAuthorization and calls `next()`; answers 400, 401, 403 or 503
 * with a WWW-Authenticate challenge and a `{ error, error_description }` body otherwise. Any other
 * failure goes to `next(error)`, to the app's own error handling.
 */
export function expressRequireToken(resource: ResourceProvider, options: AuthenticateOptions = {}) {
  return function requireToken(req: ExpressRequestLike, res: ServerResponseLike, next: ExpressNext): void {
    resource
      .authenticate(
        { method: req.method, url: requestUrl(req), headers: req.headers, body: req.body },
        options,
      )
      .then(
        (auth) => {
          req.auth = auth;
          next();
        },
        (error: unknown) => {
          if (error instanceof ResourceError) sendResourceError(res, resource, error);
          else next(error);
        },
      );
  };
}

/**
 * An Express error handler (four parameters, as Express requires) for a ResourceError a route
 * throws itself, say `insufficientScope('admin')` for one field: the same answer as the
 * middleware's, in the scheme of the token the request came with. Other errors pass on.
 */
export function expressErrorHandler(resource: ResourceProvider) {
  return function resourceErrorHandler(
    error: unknown,
    req: ExpressRequestLike,
    res: ServerResponseLike & { headersSent?: boolean },
    next: ExpressNext,
  ): void {
    if (!(error instanceof ResourceError) || res.headersSent) {
      next(error);
      return;
    }
    sendResourceError(res, resource, error, req.auth?.tokenType);
  };
}
