// Remembered consent: what a user allowed an app stays allowed in their next browser session, as
// Keycloak and Auth0 users expect, until they revoke it on the account page (or an admin does).
// oidc-provider's default only finds a grant through the current session, so a user who signed
// out, or whose session ended, was asked again by every third-party app.
//
// The new session gets a grant of its own carrying the same consent, not the old grant itself:
// tokens stay in per-session families, so a refresh token replayed on one device (RFC 9700
// §4.14.2 reuse detection revokes the whole grant) does not end the user's other sessions.
import type { Grant, KoaContextWithOIDC } from 'oidc-provider';
import { openRecordPayload } from '../store/oidc-adapter.js';
import type { Keyring } from '../store/encryption.js';
import type { Store } from '../store/types.js';

/** What a stored grant records of the user's consent (oidc-provider's Grant payload). */
interface ConsentRecord {
  clientId?: string;
  iat?: number;
  openid?: { scope?: string; claims?: string[] };
  resources?: Record<string, string>;
  rejected?: { openid?: { scope?: string; claims?: string[] }; resources?: Record<string, string> };
}

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
    let newest: ConsentRecord | undefined;
    for (const record of await store.oidc.findByAccountId('Grant', accountId)) {
      const grant = openRecordPayload(keyring, record) as ConsentRecord;
      if (grant.clientId !== client.clientId) continue;
      if (!newest || (grant.iat ?? 0) > (newest.iat ?? 0)) newest = grant;
    }
    if (!newest) return undefined;
    const grant = new oidc.provider.Grant({ accountId, clientId: client.clientId });
    if (newest.openid?.scope) grant.addOIDCScope(newest.openid.scope);
    if (newest.openid?.claims?.length) grant.addOIDCClaims(newest.openid.claims);
    for (const [resource, scope] of Object.entries(newest.resources ?? {}))
      grant.addResourceScope(resource, scope);
    if (newest.rejected?.openid?.scope) grant.rejectOIDCScope(newest.rejected.openid.scope);
    for (const [resource, scope] of Object.entries(newest.rejected?.resources ?? {}))
      grant.rejectResourceScope(resource, scope);
    await grant.save();
    return grant;
  };
}
