// The scopes a consent step asks about, for the consent page and for an app that records consent
// itself (CONSENT_URL).
import type Provider from 'oidc-provider';
import { isOidcScope } from './scopes.js';

type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * What the consent page lists: what is not granted yet; or, when the app asked for consent again
 * (prompt=consent) for what was granted already, everything it asks for, so the user sees what
 * they are confirming rather than an empty list.
 */
export function consentAsked(details: InteractionDetails): {
  missingOIDCScope?: string[];
  missingResourceScopes?: Record<string, string[]>;
} {
  const missing = details.prompt.details as {
    missingOIDCScope?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missing.missingOIDCScope?.length || Object.keys(missing.missingResourceScopes ?? {}).length)
    return missing;
  const requested = String(details.params.scope ?? '')
    .split(' ')
    .filter(Boolean);
  const resource = typeof details.params.resource === 'string' ? details.params.resource : undefined;
  const apiScopes = requested.filter((scope) => !isOidcScope(scope));
  return {
    missingOIDCScope: requested.filter(isOidcScope),
    ...(resource && apiScopes.length ? { missingResourceScopes: { [resource]: apiScopes } } : {}),
  };
}
