// Clients and their grants over HTTP: request bodies in the client metadata's own names
// (RFC 7591 §2: client_name, redirect_uris, grant_types ...), and the answers the service gives.
import { z } from 'zod';
import { KNOWN_GRANT_TYPES } from '../../authorization/clients.js';
import {
  absoluteUri,
  listOf,
  pageOf,
  requestComponent,
  requiredScopeList,
  responseComponent,
  scopeList,
  timestamp,
  webUrl,
} from './common.js';

const uriList = z.array(absoluteUri).max(50);

/** What `add` and `update` share (the CLI's `clients add` options, by their metadata names). */
const clientFields = {
  client_name: z.string().trim().min(1).max(200).meta({ description: 'Shown to users on the consent page.' }),
  redirect_uris: uriList.optional().meta({ description: 'Required for authorization_code.' }),
  grant_types: z.array(z.enum(KNOWN_GRANT_TYPES)).min(1).max(KNOWN_GRANT_TYPES.length).optional().meta({
    description:
      'Default: authorization_code and refresh_token with redirect URIs, else client_credentials (device_code for public clients).',
  }),
  scope: scopeList.optional().meta({
    description:
      'OpenID Connect scopes and scopes of registered APIs; each API scope becomes a client grant. On update, replaces all of them.',
  }),
  apis: uriList
    .optional()
    .meta({ description: 'The APIs `scope` draws from, where two share a scope name.' }),
  post_logout_redirect_uris: uriList.optional(),
  first_party: z.boolean().optional().meta({ description: 'Your own app: users see no consent page.' }),
  resource_servers: uriList
    .optional()
    .meta({ description: 'APIs whose tokens this client may introspect (it is their resource server).' }),
  backchannel_logout_uri: webUrl.optional(),
  logo_uri: webUrl.optional(),
  client_uri: webUrl.optional(),
  policy_uri: webUrl.optional(),
  tos_uri: webUrl.optional(),
  access_token_ttl: z.number().int().min(10).max(86_400).optional(),
  refresh_token_ttl: z
    .number()
    .int()
    .min(60)
    .max(365 * 86_400)
    .optional(),
};

export const ClientCreate = requestComponent(
  'ClientCreate',
  z
    .object({
      ...clientFields,
      public: z.boolean().optional().meta({ description: 'A native or browser app: no secret, PKCE.' }),
    })
    .strict(),
);

export const ClientUpdate = requestComponent(
  'ClientUpdate',
  z
    .object(clientFields)
    .partial()
    .strict()
    .refine((changes) => Object.keys(changes).length > 0, 'nothing to change: give at least one field')
    .meta({ description: 'Only the fields given change; whether a client is public cannot.' }),
);

export const GrantInput = requestComponent(
  'ClientGrantInput',
  z
    .object({
      api: absoluteUri.meta({ description: 'The API identifier.' }),
      scope: requiredScopeList.meta({ description: 'Space-separated scopes of that API.' }),
    })
    .strict()
    .meta({ description: 'Replaces any earlier grant of the same API to the client.' }),
);

export const Grant = responseComponent(
  'ClientGrant',
  z.object({
    client_id: z.string(),
    api: z.string(),
    scope: z.string(),
    created_at: timestamp,
    updated_at: timestamp,
  }),
);

/** A client as the service shows it: its metadata (open-ended, RFC 7591 §2), never its secret. */
export const Client = responseComponent(
  'Client',
  z
    .object({
      client_id: z.string(),
      client_name: z.string(),
      grant_types: z.array(z.string()),
      response_types: z.array(z.string()),
      redirect_uris: z.array(z.string()),
      token_endpoint_auth_method: z.string(),
      application_type: z.string(),
      first_party: z.boolean(),
      scope: z.string().optional(),
      post_logout_redirect_uris: z.array(z.string()).optional(),
      resource_servers: z.array(z.string()).optional(),
      backchannel_logout_uri: z.string().optional(),
      backchannel_logout_session_required: z.boolean().optional(),
      logo_uri: z.string().optional(),
      client_uri: z.string().optional(),
      policy_uri: z.string().optional(),
      tos_uri: z.string().optional(),
      access_token_ttl: z.number().optional(),
      refresh_token_ttl: z.number().optional(),
      created_at: timestamp,
    })
    .loose(),
);

export const ClientDetail = responseComponent(
  'ClientDetail',
  Client.extend({ grants: z.array(Grant) }).meta({ description: 'A client with its API grants.' }),
);

export const ClientWithSecret = responseComponent(
  'ClientWithSecret',
  Client.extend({
    client_secret: z
      .string()
      .optional()
      .meta({ description: 'Confidential clients only. Shown this once: store it now.' }),
    grants: z.array(Grant).optional(),
  }),
);

export const ClientPage = pageOf('ClientPage', Client);
export const GrantList = listOf('ClientGrantList', Grant);

export const ClientRemoval = responseComponent(
  'ClientRemoval',
  z
    .object({
      client_id: z.string(),
      removed: z.literal(true),
      revoked_records: z.number().int().meta({ description: 'Tokens, codes and grants revoked.' }),
      client_grants: z.number().int(),
      vault_integrations: z.number().int(),
    })
    .meta({ description: 'What went with the client.' }),
);

export const GrantRemoval = responseComponent(
  'ClientGrantRemoval',
  z.object({ client_id: z.string(), api: z.string(), removed: z.literal(true) }),
);

export const GrantQuery = z
  .object({ api: absoluteUri.meta({ description: 'The API identifier whose grant goes.' }) })
  .strict();
