// Reads a request part through its schema; a failure is a 400 whose description names each
// failing field as the client wrote it (`body.redirect_uris[0]: Invalid URL`).
import type { z } from 'zod';
import { HttpError } from '../web/errors.js';

type RequestPart = 'params' | 'query' | 'body';

function fieldName(part: RequestPart, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (name, key) => (typeof key === 'number' ? `${name}[${key}]` : `${name}.${String(key)}`),
    part,
  );
}

function describeIssue(part: RequestPart, issue: z.core.$ZodIssue): string {
  // `.strict()` reports unknown fields on their object: name the fields themselves.
  if (issue.code === 'unrecognized_keys')
    return issue.keys.map((key) => `${fieldName(part, [...issue.path, key])}: unknown field`).join('; ');
  return `${fieldName(part, issue.path)}: ${issue.message}`;
}

/** The parsed value, or an HttpError 400 invalid_request listing (at most five) failing fields. */
export function parsePart<T>(part: RequestPart, schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 5).map((issue) => describeIssue(part, issue));
  throw new HttpError(400, 'invalid_request', issues.join('; '));
}
