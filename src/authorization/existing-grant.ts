// Remembered consent: what a user allowed an app stays allowed in their next browser session, as
// Keycloak and Auth0 users expect, until they revoke it on the account page (or an admin does).
// oidc-provider's default only finds a grant through the current session, so a user who signed
// out, or whose session ended, was asked again by every third-party app.
import type { Grant, KoaContextWithOIDC } from 'oidc-provider';
import { openRecordPayload } from '../store/oidc-adapter.js';
import type { Keyring } from '../store/encryption.js';
import type { Store } from '../store/types.js';

export function loadExistingGrant(store: Store, keyring: Keyring) {
  return async function loadExistingGrant(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
    const { oidc } = ctx;
    const client = oidc.client!;
    const known =
      (oidc.result?.consent as { grantId?: string } | undefined)?.grantId ??
      oidc.session?.grantIdFor(client.clientId);
    if (known) return oidc.provider.Grant.find(known);
    const accountId = oidc.session?.accountId;
    if (!accountId) return undefined;
    // The newest unexpired grant of this account for this client.
    let newest: { jti: string; iat: number } | undefined;
    for (const record of await store.oidc.findByAccountId('Grant', accountId)) {
      const grant = openRecordPayload(keyring, record) as { jti?: string; clientId?: string; iat?: number };
      if (grant.clientId !== client.clientId || !grant.jti) continue;
      if (!newest || (grant.iat ?? 0) > newest.iat) newest = { jti: grant.jti, iat: grant.iat ?? 0 };
    }
    return newest ? oidc.provider.Grant.find(newest.jti) : undefined;
  };
}
