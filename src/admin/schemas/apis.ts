// Registered APIs (resource servers) over HTTP, in the names `latchkey apis show --json` prints.
import { z } from 'zod';
import {
  absoluteUri,
  pageOf,
  requestComponent,
  requiredScopeList,
  responseComponent,
  scopeList,
  timestamp,
} from './common.js';

/** What `add` and `update` share. */
const apiFields = {
  scope: requiredScopeList.meta({
    description: 'Space-separated scopes the API accepts (update: replaces them).',
  }),
  name: z.string().trim().min(1).max(200).optional(),
  format: z.enum(['jwt', 'opaque']).optional().meta({ description: 'Access token format (default jwt).' }),
  alg: z
    .enum(['RS256', 'ES256'])
    .optional()
    .meta({ description: 'JWS algorithm of JWT access tokens (default RS256).' }),
  ttl: z
    .number()
    .int()
    .min(10)
    .max(86_400)
    .optional()
    .meta({ description: 'Access token lifetime in seconds (default 3600).' }),
  scope_descriptions: z
    .record(z.string().min(1).max(200), z.string().trim().min(1).max(200))
    .optional()
    .meta({ description: 'scope → words for the consent page.' }),
  user_consent_scope: scopeList
    .optional()
    .meta({ description: 'Scopes any app may get with a user’s consent alone, without a client grant.' }),
};

export const ApiCreate = requestComponent(
  'ApiCreate',
  z
    .object({
      identifier: absoluteUri.meta({
        description: 'The resource indicator clients send (RFC 8707 §2): an absolute URI without a fragment.',
      }),
      ...apiFields,
    })
    .strict(),
);

export const ApiUpdate = requestComponent(
  'ApiUpdate',
  z
    .object(apiFields)
    .partial()
    .strict()
    .refine((changes) => Object.keys(changes).length > 0, 'nothing to change: give at least one field')
    .meta({ description: 'Only the fields given change. Scopes taken away leave every client grant.' }),
);

export const Api = responseComponent(
  'Api',
  z.object({
    identifier: z.string(),
    name: z.string().optional(),
    scope: z.string(),
    format: z.enum(['jwt', 'opaque']),
    alg: z.enum(['RS256', 'ES256']).optional(),
    ttl: z.number().int(),
    scope_descriptions: z.record(z.string(), z.string()).optional(),
    user_consent_scope: z.string().optional(),
    created_at: timestamp,
    updated_at: timestamp.optional(),
  }),
);

export const ApiDetail = responseComponent(
  'ApiDetail',
  Api.extend({
    grants: z
      .array(z.object({ client_id: z.string(), scope: z.string() }))
      .meta({ description: 'The clients granted this API, with their scopes.' }),
  }),
);

export const ApiPage = pageOf('ApiPage', Api);

export const ApiRemoval = responseComponent(
  'ApiRemoval',
  z.object({ identifier: z.string(), removed: z.literal(true) }),
);

export const ApiPath = z
  .object({
    identifier: absoluteUri.meta({
      description: 'The API identifier, percent-encoded as one path segment (encodeURIComponent).',
    }),
  })
  .strict();

export const ApiRemoveQuery = z
  .object({
    force: z
      .enum(['true', 'false'])
      .optional()
      .meta({ description: '`true`: remove the clients’ grants for it too, instead of answering 409.' }),
  })
  .strict();
