// `@latchkey/resource`: the bearer-token checker for APIs that trust a Latchkey issuer (or any
// issuer of RFC 9068 JWTs and RFC 7662 introspection). Depends on jose and lru-cache only; the
// Koa, Express and node:http helpers are typed structurally and load neither framework.
export {
  createResourceProvider,
  ResourceProvider,
  type ResourceProviderOptions,
} from './resource-provider.js';
export { requireToken, type KoaContextLike, type KoaNext } from './koa.js';
export {
  expressErrorHandler,
  expressRequireToken,
  type ExpressNext,
  type ExpressRequestLike,
} from './express.js';
export { sendResourceError, type ServerResponseLike } from './node-http.js';
export {
  ResourceError,
  insufficientScope,
  invalidRequest,
  invalidToken,
  type ChallengeScheme,
  type ErrorResponse,
  type ResourceErrorCode,
} from './errors.js';
export {
  DEFAULT_DPOP_ALGORITHMS,
  memoryReplayStore,
  type DpopOptions,
  type DpopReplayStore,
} from './dpop.js';
export { DEFAULT_JWT_ALGORITHMS } from './jwt-access-token.js';
export { DEFAULT_INTROSPECTION_CACHE_TTL_MS, type IntrospectionOptions } from './introspection.js';
export { MAX_TOKEN_LENGTH } from './credentials.js';
export type {
  AuthenticateOptions,
  IntrospectionResponse,
  OpaqueTokenChecker,
  ResourceAuthorization,
  ResourceRequest,
} from './types.js';
