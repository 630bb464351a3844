// A browser as far as OAuth is concerned: a cookie jar, manual redirects, and forms posted the way
// a browser posts them. Stops at the first redirect that leaves the server (the client's callback).
import { CookieJar } from 'tough-cookie';

export interface Page {
  url: string;
  status: number;
  html: string;
  headers: Headers;
}

export class Browser {
  readonly jar = new CookieJar();
  readonly #origin: string;
  readonly #origins: string[];

  /** `origin` is where relative actions go; redirects to it or to `others` are followed. */
  constructor(origin: string, ...others: string[]) {
    this.#origin = origin;
    this.#origins = [origin, ...others];
  }

  async #request(url: string, init: RequestInit = {}): Promise<Response> {
    const cookie = await this.jar.getCookieString(url);
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) },
    });
    for (const header of response.headers.getSetCookie()) await this.jar.setCookie(header, url);
    return response;
  }

  /** Follows redirects inside the server; returns the page, or the outside URL it was sent to. */
  async navigate(url: string, init: RequestInit = {}): Promise<Page | { redirect: string }> {
    let response = await this.#request(url, init);
    let current = url;
    for (let hops = 0; hops < 20; hops++) {
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location) {
        return {
          url: current,
          status: response.status,
          html: await response.text(),
          headers: response.headers,
        };
      }
      const next = new URL(location, current).href;
      if (!this.#origins.some((origin) => next.startsWith(origin))) return { redirect: next };
      current = next;
      response = await this.#request(next);
    }
    throw new Error('too many redirects');
  }

  async page(url: string, init: RequestInit = {}): Promise<Page> {
    const result = await this.navigate(url, init);
    if ('redirect' in result) throw new Error(`expected a page, was sent to ${result.redirect}`);
    return result;
  }

  /** Posts a urlencoded form to an absolute or server-relative action. */
  submit(action: string, fields: Record<string, string>): Promise<Page | { redirect: string }> {
    return this.navigate(new URL(action, this.#origin).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

/** The value of a hidden input on a page (e.g. `_csrf`, `xsrf`). */
export function hiddenInput(html: string, name: string): string {
  const match =
    new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(html) ??
    new RegExp(`<input[^>]*value="([^"]*)"[^>]*name="${name}"`).exec(html);
  if (!match) throw new Error(`no input ${name} on the page`);
  return match[1]!.replace(/&amp;/g, '&');
}

/** The action of the form whose action ends with `suffix`. */
export function formAction(html: string, suffix: string): string {
  const match = new RegExp(`<form[^>]*action="([^"]*${suffix.replace(/[/]/g, '\\/')})"`).exec(html);
  if (!match) throw new Error(`no form posting to …${suffix}`);
  return match[1]!.replace(/&amp;/g, '&');
}
