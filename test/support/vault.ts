// Helpers for the vault suites: an app's vault access token and JSON calls to the vault API.
import * as oauth from 'openid-client';
import type { TestServer } from './latchkey.js';

export interface VaultApp {
  clientId: string;
  token: string;
  /** Calls the vault API as this app. */
  call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: any; headers: Headers }>;
}

/** Registers an app on the vault's server and gets it a client_credentials token for the vault API. */
export async function vaultApp(
  server: TestServer,
  name = 'Vault App',
  scope = 'vault:connect vault:tokens vault:proxy vault:admin',
): Promise<VaultApp> {
  const { clients, grants } = server.latchkey.services;
  const client = await clients.add({ name, grantTypes: ['client_credentials'] });
  // No client holds vault scopes until an admin grants them (README, "Token vault").
  await grants.grant(client.client_id, `${server.url}/vault`, scope);
  const config = await oauth.discovery(
    new URL(server.url),
    client.client_id,
    { client_secret: client.client_secret },
    oauth.ClientSecretBasic(client.client_secret!),
    { execute: [oauth.allowInsecureRequests] },
  );
  const tokens = await oauth.clientCredentialsGrant(config, { scope, resource: `${server.url}/vault` });
  const token = tokens.access_token;
  return {
    clientId: client.client_id,
    token,
    async call(method, path, body) {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
  };
}
