// `latchkey/resource`: the bearer-token checker for APIs that trust a Latchkey issuer. Depends on
// jose and lru-cache only; Latchkey's own in-process checker lives in ./in-process.ts, which this
// entry does not import.
export {
  createResourceProvider,
  ResourceProvider,
  type ResourceProviderOptions,
} from './resource-provider.js';
export { requireToken, type KoaContextLike, type KoaNext } from './koa.js';
export {
  ResourceError,
  insufficientScope,
  invalidRequest,
  invalidToken,
  type ChallengeScheme,
  type ErrorResponse,
  type ResourceErrorCode,
} from './errors.js';
export { DEFAULT_DPOP_ALGORITHMS, type DpopOptions } from './dpop.js';
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
