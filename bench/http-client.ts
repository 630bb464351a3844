// The bench's OAuth client side: discovery, token requests, and a browser as far as OAuth is
// concerned (a cookie jar, same-origin redirects followed by hand, forms posted the way a browser
// posts them), light enough to run many at once beside the server on a two-core machine.
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import type { BenchFixtures } from './fixtures.js';

const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 64 });

export interface Endpoints {
  authorization: string;
  token: string;
  introspection: string;
  userinfo: string;
  jwks: string;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export async function httpRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResponse> {
  const response = await request(url, {
    method: (init.method ?? 'GET') as 'GET',
    headers: init.headers,
    body: init.body,
    dispatcher,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
}

export async function discover(url: string): Promise<Endpoints> {
  const response = await httpRequest(`${url}/.well-known/openid-configuration`);
  if (response.status !== 200) throw new Error(`discovery at ${url} answered ${response.status}`);
  const metadata = JSON.parse(response.text) as Record<string, string>;
  return {
    authorization: metadata.authorization_endpoint!,
    token: metadata.token_endpoint!,
    introspection: metadata.introspection_endpoint!,
    userinfo: metadata.userinfo_endpoint!,
    jwks: metadata.jwks_uri!,
  };
}

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded, then base64'd. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

export const FORM = 'application/x-www-form-urlencoded';

export interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  token_type: string;
  expires_in: number;
  scope?: string;
}

/** POSTs a form to the token endpoint as `client`; throws with the response when it is not 200. */
export async function tokenRequest(
  endpoints: Endpoints,
  client: { clientId: string; clientSecret: string },
  form: Record<string, string>,
): Promise<TokenResponse> {
  const response = await httpRequest(endpoints.token, {
    method: 'POST',
    headers: {
      authorization: basicAuthorization(client.clientId, client.clientSecret),
      'content-type': FORM,
    },
    body: new URLSearchParams(form).toString(),
  });
  if (response.status !== 200) throw new Error(`token request answered ${response.status}: ${response.text}`);
  return JSON.parse(response.text) as TokenResponse;
}

/** Cookies of one origin, by name and path (RFC 6265 §5.1.4 path matching; no domains needed). */
class CookieJar {
  readonly #cookies = new Map<string, { name: string; value: string; path: string }>();

  header(path: string): string | undefined {
    const matching = [...this.#cookies.values()].filter(
      (cookie) =>
        path === cookie.path ||
        (path.startsWith(cookie.path) && (cookie.path.endsWith('/') || path[cookie.path.length] === '/')),
    );
    return matching.length
      ? matching.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ')
      : undefined;
  }

  store(setCookie: string | string[] | undefined): void {
    for (const line of typeof setCookie === 'string' ? [setCookie] : (setCookie ?? [])) {
      const [pair = '', ...attributes] = line.split(';');
      const separator = pair.indexOf('=');
      const name = pair.slice(0, separator).trim();
      const value = pair.slice(separator + 1).trim();
      let path = '/';
      let expired = false;
      for (const attribute of attributes) {
        const [key = '', attributeValue = ''] = attribute.trim().split('=');
        const lower = key.toLowerCase();
        if (lower === 'path') path = attributeValue;
        if (lower === 'max-age' && Number(attributeValue) <= 0) expired = true;
        if (lower === 'expires' && Date.parse(attributeValue) <= Date.now()) expired = true;
      }
      if (expired) this.#cookies.delete(`${name};${path}`);
      else this.#cookies.set(`${name};${path}`, { name, value, path });
    }
  }
}

export type Navigation = { page: HttpResponse; url: string } | { redirect: string };

/**
 * One browser: its own cookie jar. Stops at the first redirect that leaves the server (and the
 * `others` origins it is told to follow too, e.g. the vault's upstream provider). Cookies are kept
 * by path only: fine while only one of the origins sets any.
 */
export class BenchBrowser {
  readonly #origins: string[];
  readonly #jar = new CookieJar();

  constructor(origin: string, ...others: string[]) {
    this.#origins = [origin, ...others];
  }

  async navigate(
    url: string,
    init: { method?: string; form?: Record<string, string> } = {},
  ): Promise<Navigation> {
    let current = url;
    let next: { method?: string; form?: Record<string, string> } = init;
    for (let hops = 0; hops < 20; hops++) {
      const target = new URL(current);
      const cookie = this.#jar.header(target.pathname);
      const response = await httpRequest(current, {
        method: next.method ?? 'GET',
        headers: {
          ...(cookie ? { cookie } : {}),
          ...(next.form ? { 'content-type': FORM } : {}),
        },
        ...(next.form ? { body: new URLSearchParams(next.form).toString() } : {}),
      });
      this.#jar.store(response.headers['set-cookie']);
      const location = response.headers.location;
      if (response.status < 300 || response.status >= 400 || typeof location !== 'string') {
        return { page: response, url: current };
      }
      current = new URL(location, current).href;
      if (!this.#origins.some((origin) => current.startsWith(`${origin}/`))) return { redirect: current };
      next = {};
    }
    throw new Error('too many redirects');
  }
}

function hiddenInput(html: string, name: string): string {
  const match =
    new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(html) ??
    new RegExp(`<input[^>]*value="([^"]*)"[^>]*name="${name}"`).exec(html);
  if (!match) throw new Error(`no input ${name} on the page`);
  return match[1]!.replace(/&amp;/g, '&');
}

function formAction(html: string, suffix: string): string | undefined {
  const match = new RegExp(`<form[^>]*action="([^"]*${suffix.replace(/[/]/g, '\\/')})"`).exec(html);
  return match?.[1]?.replace(/&amp;/g, '&');
}

export interface CodeFlowOptions {
  scope: string;
  /** RFC 8707 resource, asked for at the authorization and the token endpoint. */
  resource?: string;
}

/**
 * The whole browser flow of one new user session: authorize → login page → sign in (argon2id on
 * the server) → consent page → allow → code → token. Returns the token response.
 */
export async function codeFlow(
  endpoints: Endpoints,
  fixtures: BenchFixtures,
  options: CodeFlowOptions,
): Promise<TokenResponse> {
  const browser = new BenchBrowser(fixtures.url);
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const authorize = new URL(endpoints.authorization);
  const params: Record<string, string> = {
    client_id: fixtures.web.clientId,
    redirect_uri: fixtures.web.redirectUri,
    response_type: 'code',
    scope: options.scope,
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    // oidc-provider issues a refresh token only with consent when offline_access is asked for.
    ...(options.scope.includes('offline_access') ? { prompt: 'consent' } : {}),
    ...(options.resource ? { resource: options.resource } : {}),
  };
  for (const [name, value] of Object.entries(params)) authorize.searchParams.set(name, value);

  let result = await browser.navigate(authorize.href);
  for (let step = 0; step < 4 && !('redirect' in result); step++) {
    const { page, url } = result;
    const login = formAction(page.text, '/login');
    const confirm = formAction(page.text, '/confirm');
    if (page.status === 200 && login) {
      result = await browser.navigate(new URL(login, url).href, {
        method: 'POST',
        form: { email: fixtures.email, password: fixtures.password, _csrf: hiddenInput(page.text, '_csrf') },
      });
    } else if (page.status === 200 && confirm) {
      result = await browser.navigate(new URL(confirm, url).href, {
        method: 'POST',
        form: { _csrf: hiddenInput(page.text, '_csrf') },
      });
    } else {
      throw new Error(`unexpected page ${page.status} at ${url}: ${page.text.slice(0, 300)}`);
    }
  }
  if (!('redirect' in result)) throw new Error('the browser was not sent back to the client');
  const callback = new URL(result.redirect);
  const code = callback.searchParams.get('code');
  if (!code || callback.searchParams.get('state') !== state) {
    throw new Error(`no code in the callback: ${callback.search}`);
  }
  return tokenRequest(endpoints, fixtures.web, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: fixtures.web.redirectUri,
    code_verifier: verifier,
    ...(options.resource ? { resource: options.resource } : {}),
  });
}
