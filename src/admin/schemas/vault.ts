// An app's vault integrations over HTTP (what `latchkey vault integrations` does): the provider
// client secret goes in and never comes out.
import { z } from 'zod';
import { listOf, requestComponent, responseComponent, timestamp, webUrl } from './common.js';

export const integrationKey = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, ".", "_" or "-", at most 64');

export const IntegrationCreate = requestComponent(
  'VaultIntegrationCreate',
  z
    .object({
      key: integrationKey.meta({ description: 'The app’s name for it, used in vault routes.' }),
      provider: z.string().min(1).max(64).meta({ description: 'A catalog provider (GET /vault/providers).' }),
      client_id: z.string().min(1).max(512).meta({ description: 'The app’s client id at the provider.' }),
      client_secret: z
        .string()
        .min(1)
        .max(4096)
        .optional()
        .meta({ description: 'Sealed at rest; never returned.' }),
      scopes: z.array(z.string().min(1).max(256)).max(100).optional(),
      issuer: webUrl.optional().meta({ description: 'The issuer, for provider `oidc`.' }),
      authorization_params: z.record(z.string().max(64), z.string().max(1024)).optional(),
    })
    .strict(),
);

export const Integration = responseComponent(
  'VaultIntegration',
  z.object({
    key: z.string(),
    provider: z.string(),
    client_id: z.string(),
    has_client_secret: z.boolean(),
    scopes: z.array(z.string()),
    issuer: z.string().optional(),
    authorization_params: z.record(z.string(), z.string()).optional(),
    created_at: timestamp,
    updated_at: timestamp,
  }),
);

export const IntegrationCreated = responseComponent(
  'VaultIntegrationCreated',
  Integration.extend({
    redirect_uri: z.string().meta({ description: 'Register this redirect URI with the provider.' }),
  }),
);

export const IntegrationList = listOf('VaultIntegrationList', Integration);

export const IntegrationRemoval = responseComponent(
  'VaultIntegrationRemoval',
  z.object({ client_id: z.string(), key: z.string(), removed: z.literal(true) }),
);
