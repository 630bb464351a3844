// The pieces every admin API schema is made of, and the two registries the OpenAPI document
// draws its named components from: request bodies (read as input) and responses (as output).
import { z } from 'zod';

export interface ComponentMeta {
  id: string;
}

/** Named request-body schemas: `#/components/schemas/<id>`, converted as what a client sends. */
export const requestComponents = z.registry<ComponentMeta>();
/** Named response schemas: `#/components/schemas/<id>`, converted as what the server answers. */
export const responseComponents = z.registry<ComponentMeta>();

export function requestComponent<T extends z.ZodType>(id: string, schema: T): T {
  requestComponents.add(schema, { id });
  return schema;
}

export function responseComponent<T extends z.ZodType>(id: string, schema: T): T {
  responseComponents.add(schema, { id });
  return schema;
}

/**
 * Space-separated scopes: RFC 6749 §3.3 scope-tokens (%x21 / %x23-5B / %x5D-7E) and spaces, so a
 * quote, a backslash or a control character is refused here, naming the field.
 */
export const scopeList = z
  .string()
  .max(4000)
  .regex(
    /^[\x21\x23-\x5b\x5d-\x7e ]*$/,
    'scopes are space-separated printable ASCII without quotes or backslashes (RFC 6749 §3.3)',
  )
  .meta({ description: 'Space-separated scopes (RFC 6749 §3.3).' });

/** At least one scope. */
export const requiredScopeList = scopeList.refine((value) => value.trim() !== '', 'at least one scope');

/** An absolute URI of any scheme (redirect URIs of native apps use their own). */
export const absoluteUri = z.url().max(2000);

/** An http(s) URL. */
export const webUrl = z.url({ protocol: /^https?$/ }).max(2000);

/** A moment, as RFC 3339 text. */
export const timestamp = z.string().meta({ format: 'date-time' });

/** A path segment that names a record (a client id, a user id, an integration key). */
export const recordId = z.string().min(1).max(256);

/** Every error answer: an OAuth-style code and words for people (RFC 6749 §5.2's shape). */
export const ErrorBody = responseComponent(
  'Error',
  z
    .object({
      error: z.string().meta({
        description:
          'invalid_request, invalid_token, insufficient_scope, not_found, conflict, already_handled, method_not_allowed, server_error, or a vault or client-metadata error code',
      }),
      error_description: z.string(),
    })
    .meta({ description: 'An error: a stable code and a description naming what was wrong.' }),
);

/** `?limit=&cursor=` of every paginated list. */
export const PageQuery = z
  .object({
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(200)
      .optional()
      .meta({ description: 'Items per page, 1 to 200 (default 50).' }),
    cursor: z
      .string()
      .max(1000)
      .optional()
      .meta({ description: 'The `next_cursor` of the page before; absent for the first page.' }),
  })
  .strict();

/** A page of a list: its items and where the next page starts (null on the last page). */
export function pageOf<T extends z.ZodType>(id: string, item: T) {
  return responseComponent(
    id,
    z.object({
      data: z.array(item),
      next_cursor: z
        .string()
        .nullable()
        .meta({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
    }),
  );
}

/** A whole list (short ones: keys, a client's grants and integrations). */
export function listOf<T extends z.ZodType>(id: string, item: T) {
  return responseComponent(id, z.object({ data: z.array(item) }));
}
