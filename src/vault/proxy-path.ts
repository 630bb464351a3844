// Where a proxied vault call goes: the provider's API base URL plus the path the app asked for,
// refused outright when that path could leave the base (a token must only ever reach its provider).
import { VaultError } from './types.js';

/**
 * Raw characters that a path may not hold: anything outside visible ASCII (a request target is
 * ASCII, RFC 3986 §2), `\` (the WHATWG URL parser reads it as `/` in http(s) URLs), `@` (userinfo
 * delimiter, RFC 3986 §3.2.1), `#` (fragment), `?` (the query comes separately) and `//` (a
 * network-path reference names a host, RFC 3986 §4.2).
 */
const FORBIDDEN_RAW = /[^\x21-\x7e]|[\\@#?]|\/\//;
/**
 * The same characters percent-encoded (controls, `/`, `\`, `@`), since some servers decode before
 * routing; and `%25` (an encoded `%`) in front of any of them or of `.`, so that `%252e%252e`, which
 * a server that decodes twice reads as `..`, is refused too (`%2525…` covers deeper nesting).
 */
const FORBIDDEN_ENCODED = /%(?:[01][0-9a-f]|7f|2f|5c|40|25(?:[01][0-9a-f]|7f|2f|5c|40|2e|25))/i;
/** A percent sign not followed by two hex digits: malformed (RFC 3986 §2.1), read differently by each server. */
const MALFORMED_ESCAPE = /%(?![0-9a-f]{2})/i;
/**
 * A `.` or `..` segment (RFC 3986 §3.3, removed by §5.2.4), raw or encoded, also with a `;param`
 * that some servers strip before resolving (`..;/`).
 */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:;[^/]*)?(?:\/|$)/i;
/** A scheme at the start (RFC 3986 §3.1): `http:`, `https:`, `javascript:` ... */
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;
/** What a query may hold: visible ASCII without `#` (a fragment is never sent, RFC 9110 §4.2.1). */
const QUERY = /^[\x21-\x22\x24-\x7e]*$/;

interface ApiBase {
  origin: string;
  /** The base's pathname as given (`/`, `/v2`, `/v2/`). */
  pathname: string;
  /** The pathname without its trailing slash: what a proxied path is appended to (`''`, `/v2`). */
  prefix: string;
}

/** Parsed API bases, by URL: there are few (one or two per integration), and parsing is per request otherwise. */
const apiBases = new Map<string, ApiBase>();
const MAX_CACHED_BASES = 1000;

function apiBase(apiBaseUrl: string): ApiBase {
  const cached = apiBases.get(apiBaseUrl);
  if (cached !== undefined) return cached;
  let url: URL;
  try {
    url = new URL(apiBaseUrl);
  } catch {
    throw new TypeError(`apiBaseUrl is not a URL: ${apiBaseUrl}`);
  }
  // A configuration mistake, not a request's: the base is catalog or integration data.
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`apiBaseUrl must be an http(s) URL: ${apiBaseUrl}`);
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new TypeError(`apiBaseUrl must not have credentials, a query or a fragment: ${apiBaseUrl}`);
  }
  const base: ApiBase = {
    origin: url.origin,
    pathname: url.pathname,
    prefix: url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname,
  };
  if (apiBases.size >= MAX_CACHED_BASES) apiBases.clear();
  apiBases.set(apiBaseUrl, base);
  return base;
}

function refuse(reason: string): VaultError {
  return new VaultError('path_not_allowed', 400, `The proxied path is not allowed: ${reason}.`);
}

/** Why a raw path would leave the API base, or undefined when it stays inside it. */
function pathProblem(rawPath: string): string | undefined {
  if (SCHEME.test(rawPath)) return 'it may not be an absolute URL';
  if (rawPath !== '' && rawPath[0] !== '/') return 'it must start with a slash';
  if (FORBIDDEN_RAW.test(rawPath)) {
    return 'it may not contain "//", "\\", "@", "#", "?", spaces or control characters';
  }
  if (MALFORMED_ESCAPE.test(rawPath)) return 'it has a malformed percent-encoding';
  if (FORBIDDEN_ENCODED.test(rawPath)) {
    return 'it may not contain encoded "/", "\\", "@", control characters or double encoding';
  }
  if (DOT_SEGMENT.test(rawPath)) return 'it may not contain "." or ".." segments';
  return undefined;
}

/**
 * The checks of upstreamUrl() that need no API base: throws VaultError `path_not_allowed` (400)
 * for a path or query that could leave any base, and returns the query without its `?`. A route
 * runs it before anything else, so that a refused request never reaches the store or a provider.
 */
export function checkProxiedPath(rawPath: string, rawQuery: string): string {
  const problem = pathProblem(rawPath);
  if (problem !== undefined) throw refuse(problem);
  const query = rawQuery.startsWith('?') ? rawQuery.slice(1) : rawQuery;
  if (!QUERY.test(query)) throw refuse('the query may not contain "#", spaces or control characters');
  return query;
}

/**
 * The upstream URL for one proxied call. `rawPath` is what follows `/vault/proxy/:integration/:endUserId`
 * exactly as received (still percent-encoded, `''` or starting with `/`); `rawQuery` is the query
 * string as received, with or without its `?`. Throws VaultError `path_not_allowed` (400) for any
 * path that could leave the base; TypeError for a malformed `apiBaseUrl` (configuration).
 */
export function upstreamUrl(apiBaseUrl: string, rawPath: string, rawQuery: string): URL {
  const base = apiBase(apiBaseUrl);
  const query = checkProxiedPath(rawPath, rawQuery);

  const pathname = rawPath === '' ? base.pathname : base.prefix + rawPath;
  const url = new URL(query === '' ? base.origin + pathname : `${base.origin}${pathname}?${query}`);

  // Second line of defence: whatever the checks above missed, the URL as parsed must still be
  // the base's origin and under the base's path, or no token goes out.
  const underBase =
    url.pathname === base.pathname || url.pathname.startsWith(base.prefix + '/') || base.prefix === '';
  if (
    url.origin !== base.origin ||
    !underBase ||
    url.username !== '' ||
    url.password !== '' ||
    url.hash !== ''
  ) {
    throw refuse('it leaves the API base URL');
  }
  return url;
}
