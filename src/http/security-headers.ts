// Security headers, set by helmet before any route runs (oidc-provider reads the page CSP back to
// add the hash of its form_post script). Two sets:
// - pages (login, consent, account, device, logout, error and connect pages; anything not listed
//   below) get helmet's full set with Latchkey's page CSP, never framed (frame-ancestors 'none' and
//   X-Frame-Options DENY agree);
// - endpoints that only ever answer JSON or proxy an API (the protocol's back-channel endpoints,
//   discovery, the resource and vault APIs) get the headers that matter for an API response
//   (as in OWASP's REST security guidance): a CSP that allows nothing and no framing, nosniff,
//   HSTS, no referrer, X-Frame-Options DENY. The rest of the page set is about documents
//   (cross-origin isolation, DNS prefetch, old IE and Flash) and would cost every token request a
//   dozen more header lines.
import type { Context, Next } from 'koa';
import helmet from 'koa-helmet';

const HSTS = { maxAge: 15552000, includeSubDomains: false };

const pageHeaders = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      // oidc-provider adds the hash of its own form_post script here when it renders one.
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      // https: the operator's logo (BRAND_LOGO) and clients' logos (logo_uri) on the consent page.
      imgSrc: ["'self'", 'data:', 'https:'],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
  },
  // The provider's JSON endpoints are called cross-origin by browser apps (CORS); pages are not framed.
  crossOriginResourcePolicy: false,
  crossOriginEmbedderPolicy: false,
  hsts: HSTS,
  // The same rule as frame-ancestors 'none', for browsers that predate CSP Level 2 (helmet's
  // default, SAMEORIGIN, said otherwise).
  xFrameOptions: { action: 'deny' },
});

const apiHeaders = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  },
  crossOriginEmbedderPolicy: false,
  crossOriginOpenerPolicy: false,
  crossOriginResourcePolicy: false,
  originAgentCluster: false,
  referrerPolicy: { policy: 'no-referrer' },
  hsts: HSTS,
  xContentTypeOptions: true,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: { action: 'deny' },
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
});

/** oidc-provider's endpoints that answer JSON only (its default routes, which Latchkey keeps). */
const API_ENDPOINTS = new Set([
  '/token',
  '/token/introspection',
  '/token/revocation',
  '/me',
  '/jwks',
  '/request',
  '/device/auth',
  '/healthz',
  '/metrics',
]);

/** The vault's pages: the connect link and the upstream's redirect back. */
const VAULT_PAGES = ['/vault/connect/', '/vault/callback'];

function isApiPath(path: string): boolean {
  if (API_ENDPOINTS.has(path)) return true;
  if (path.startsWith('/.well-known/') || path.startsWith('/v1/')) return true;
  return path.startsWith('/vault/') && !VAULT_PAGES.some((page) => path.startsWith(page));
}

export function securityHeaders(ctx: Context, next: Next): Promise<unknown> {
  return isApiPath(ctx.path) ? apiHeaders(ctx, next) : pageHeaders(ctx, next);
}
