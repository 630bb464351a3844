// The OpenAPI 3.1 document of the admin API, generated from the route table and the same zod
// schemas that check requests and answers (zod's own JSON Schema 2020-12 output, the dialect
// OpenAPI 3.1 uses), so the document cannot describe a route other than the one that runs.
import { z } from 'zod';
import { ADMIN_SCOPES } from './admin-api.js';
import type { AdminRoute } from './route-table.js';
import { requestComponents, responseComponents, type ComponentMeta } from './schemas/common.js';

type JsonSchema = Record<string, unknown>;
type Io = 'input' | 'output';

const SCHEMA_REF = (id: string) => `#/components/schemas/${id}`;

/** JSON Schema as an OpenAPI Schema Object: no `$schema` (the document's dialect) and no `$id`. */
function asSchemaObject(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}

function componentSchemas(registry: z.core.$ZodRegistry<ComponentMeta>, io: Io): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(registry, { io, uri: SCHEMA_REF, unrepresentable: 'any' });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => [id, asSchemaObject(schema as JsonSchema)]),
  );
}

/** A `$ref` to the schema's component when it has one, else the schema inline. */
function schemaFor(schema: z.ZodType, io: Io): JsonSchema {
  const registry = io === 'input' ? requestComponents : responseComponents;
  const id = registry.get(schema)?.id;
  if (id) return { $ref: SCHEMA_REF(id) };
  return asSchemaObject(z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema);
}

/** Path and query parameters, one per field of the route's object schema. */
function parameters(schema: z.ZodType | undefined, location: 'path' | 'query'): JsonSchema[] {
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>).map(([name, field]) => {
    const { description, ...fieldSchema } = schemaFor(field, 'input');
    return {
      name,
      in: location,
      required: location === 'path' || !field.safeParse(undefined).success,
      ...(description ? { description } : {}),
      schema: fieldSchema,
    };
  });
}

const ERROR_RESPONSES: Record<number, { name: string; description: string }> = {
  400: {
    name: 'BadRequest',
    description: 'The request is malformed; the description names the failing field.',
  },
  401: {
    name: 'Unauthorized',
    description: 'No valid access token for the admin API. Carries an RFC 6750 `WWW-Authenticate` challenge.',
  },
  403: {
    name: 'Forbidden',
    description: '`insufficient_scope`: the token lacks the scope (named in `WWW-Authenticate`).',
  },
  404: { name: 'NotFound', description: '`not_found`: no such record (or route).' },
  409: { name: 'Conflict', description: '`conflict`: the change clashes with what is stored.' },
  410: {
    name: 'Gone',
    description: '`already_handled`: the login or consent request was answered already.',
  },
  500: {
    name: 'ServerError',
    description: '`server_error`: something failed on our side; nothing more is said.',
  },
};

function errorResponse(description: string, headers?: JsonSchema): JsonSchema {
  return {
    description,
    ...(headers ? { headers } : {}),
    content: { 'application/json': { schema: { $ref: SCHEMA_REF('Error') } } },
  };
}

const CHALLENGE = {
  'WWW-Authenticate': { description: 'The RFC 6750 §3 challenge.', schema: { type: 'string' } },
};

function operation(spec: AdminRoute): JsonSchema {
  const errors = [400, ...(spec.scope ? [401, 403] : []), ...(spec.errors ?? []), 500];
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: [spec.tag],
    security: spec.scope ? [{ oauth2: [spec.scope] }] : [],
    parameters: [...parameters(spec.params, 'path'), ...parameters(spec.query, 'query')],
    ...(spec.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: schemaFor(spec.body, 'input') } },
          },
        }
      : {}),
    responses: {
      [spec.answer.status]: {
        description: spec.answer.description,
        content: { 'application/json': { schema: schemaFor(spec.answer.schema, 'output') } },
      },
      ...Object.fromEntries(
        [...new Set(errors)].map((status) => [
          status,
          { $ref: `#/components/responses/${ERROR_RESPONSES[status]!.name}` },
        ]),
      ),
    },
  };
}

export interface DocumentOptions {
  issuer: string;
  /** Where the routes are mounted, such as `/admin/v1`. */
  basePath: string;
}

export function openApiDocument(routes: readonly AdminRoute[], { issuer, basePath }: DocumentOptions) {
  const base = issuer.replace(/\/$/, '');
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const spec of routes) (paths[spec.path] ??= {})[spec.method] = operation(spec);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Latchkey admin API',
      version: '1',
      description: `The operations of the \`latchkey\` CLI over HTTP. Call it with an access token for the built-in API \`${base}/admin\`: a client granted its scopes (\`latchkey clients grant CLIENT_ID --api ${base}/admin --scope "admin:read admin:write"\`) gets one with the client_credentials grant and \`resource=${base}/admin\`. Lists are paginated with \`limit\` and \`cursor\`; every error is \`{"error", "error_description"}\`.`,
    },
    servers: [{ url: `${base}${basePath}` }],
    tags: [...new Set(routes.map((spec) => spec.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: {
        ...componentSchemas(requestComponents, 'input'),
        ...componentSchemas(responseComponents, 'output'),
      },
      responses: Object.fromEntries(
        Object.entries(ERROR_RESPONSES).map(([status, { name, description }]) => [
          name,
          errorResponse(description, status === '401' || status === '403' ? CHALLENGE : undefined),
        ]),
      ),
      securitySchemes: {
        oauth2: {
          type: 'oauth2',
          description: `Access tokens for the resource \`${base}/admin\` (RFC 8707): send \`resource=${base}/admin\` with the token request.`,
          flows: {
            clientCredentials: {
              tokenUrl: `${base}/token`,
              scopes: {
                'admin:read': 'List and show clients, grants, APIs, users, keys and vault integrations',
                'admin:write': 'Create, change and remove them; rotate secrets and keys',
                'admin:login': 'Answer login and consent challenges (LOGIN_URL, CONSENT_URL)',
              } satisfies Record<(typeof ADMIN_SCOPES)[number], string>,
            },
          },
        },
      },
    },
  };
}
