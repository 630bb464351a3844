// /clients/{id}/vault/integrations: an app's vault integrations, set up by an admin for it (what
// `latchkey vault integrations` does), through the vault's own IntegrationService. The provider
// client secret goes in and never comes out.
import { NotFoundError } from '../../authorization/errors.js';
import { integrationView } from '../../vault/integrations.js';
import { route, type AdminRoute } from '../route-table.js';
import {
  IntegrationCreate,
  IntegrationCreated,
  IntegrationList,
  IntegrationRemoval,
  integrationKey,
} from '../schemas/vault.js';
import type { AdminDeps } from '../types.js';
import { ClientPath } from './clients.js';

const IntegrationPath = ClientPath.extend({ key: integrationKey }).strict();

export function vaultIntegrationRoutes({ services, vault }: AdminDeps): AdminRoute[] {
  /** Integrations belong to a client that exists (the vault alone would not know). */
  const requireClient = async (clientId: string) => {
    if (!(await services.clients.show(clientId))) throw new NotFoundError('client', clientId);
  };
  return [
    route({
      operationId: 'listVaultIntegrations',
      method: 'get',
      path: '/clients/{id}/vault/integrations',
      scope: 'admin:read',
      tag: 'vault integrations',
      summary: 'List an app’s vault integrations',
      params: ClientPath,
      answer: {
        status: 200,
        description: 'Its integrations (never their secrets).',
        schema: IntegrationList,
      },
      errors: [404],
      handle: async ({ params }) => {
        await requireClient(params.id);
        return { data: (await vault.integrations.list(params.id)).map(integrationView) };
      },
    }),
    route({
      operationId: 'createVaultIntegration',
      method: 'post',
      path: '/clients/{id}/vault/integrations',
      scope: 'admin:write',
      tag: 'vault integrations',
      summary: 'Configure an upstream provider for an app',
      params: ClientPath,
      body: IntegrationCreate,
      answer: { status: 201, description: 'The integration (never its secret).', schema: IntegrationCreated },
      errors: [404, 409],
      handle: async ({ params, body }) => {
        await requireClient(params.id);
        const record = await vault.integrations.create(params.id, {
          key: body.key,
          provider: body.provider,
          clientId: body.client_id,
          clientSecret: body.client_secret,
          scopes: body.scopes,
          issuer: body.issuer,
          authorizationParams: body.authorization_params,
        });
        return { ...integrationView(record), redirect_uri: vault.connectFlow.callbackUrl };
      },
    }),
    route({
      operationId: 'removeVaultIntegration',
      method: 'delete',
      path: '/clients/{id}/vault/integrations/{key}',
      scope: 'admin:write',
      tag: 'vault integrations',
      summary: 'Remove an app’s integration and its connections',
      params: IntegrationPath,
      answer: { status: 200, description: 'The integration is gone.', schema: IntegrationRemoval },
      errors: [404],
      handle: async ({ params }) => {
        await vault.integrations.remove(params.id, params.key);
        return { client_id: params.id, key: params.key, removed: true };
      },
    }),
  ];
}
