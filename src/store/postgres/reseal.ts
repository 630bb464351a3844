// Store.resealIfUnchanged in PostgreSQL: one conditional UPDATE per kind of sealed value, which
// writes the sealed column alone and only while it still holds what the caller read (a
// compare-and-swap under the row lock), so that a rewrap never undoes a server's change.
import type { SealedValueLocation } from '../types.js';
import { statement, type Database, type Statement } from './database.js';

// $1 the replacement, $2 the expected value, then the record's identity.
const statements = {
  oidc: statement(
    'reseal.oidc',
    'UPDATE oidc_records SET payload = $1 WHERE payload = $2 AND model = $3 AND key = $4',
  ),
  client: statement(
    'reseal.client',
    'UPDATE clients SET secret_sealed = $1 WHERE secret_sealed = $2 AND client_id = $3',
  ),
  signingKey: statement(
    'reseal.signingKey',
    'UPDATE signing_keys SET private_sealed = $1 WHERE private_sealed = $2 AND kid = $3',
  ),
  setting: statement('reseal.setting', 'UPDATE settings SET value = $1 WHERE value = $2 AND name = $3'),
  vaultIntegration: statement(
    'reseal.vaultIntegration',
    `UPDATE vault_integrations SET client_secret_sealed = $1
     WHERE client_secret_sealed = $2 AND app_id = $3 AND key = $4`,
  ),
  // The version stays: the token set holds the same tokens, so a refresh that read the connection
  // before still wins its replaceIfVersion with its new ones.
  vaultConnection: statement(
    'reseal.vaultConnection',
    `UPDATE vault_connections SET tokens_sealed = $1
     WHERE tokens_sealed = $2 AND app_id = $3 AND integration_key = $4 AND end_user_id = $5`,
  ),
} satisfies Record<SealedValueLocation['kind'], Statement>;

function identityOf(location: SealedValueLocation): string[] {
  switch (location.kind) {
    case 'oidc':
      return [location.model, location.key];
    case 'client':
      return [location.clientId];
    case 'signingKey':
      return [location.kid];
    case 'setting':
      return [location.name];
    case 'vaultIntegration':
      return [location.appId, location.key];
    case 'vaultConnection':
      return [location.appId, location.integrationKey, location.endUserId];
  }
}

export async function resealIfUnchanged(
  db: Database,
  location: SealedValueLocation,
  expected: string,
  replacement: string,
): Promise<boolean> {
  const changed = await db.run(statements[location.kind], [replacement, expected, ...identityOf(location)]);
  return changed === 1;
}
