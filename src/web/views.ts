// Server-rendered pages: pug templates from views/, compiled once and cached. Every page also gets
// the app's view globals (the operator's branding), set once at start-up for that app.
import { AsyncLocalStorage } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Context, Next } from 'koa';
import pug from 'pug';

/** The branding every page shows (views/layout.pug). */
export interface BrandView {
  /** The product name: page titles, the header, the texts that name the service. */
  name: string;
  /** The header logo; none: Latchkey's keyhole mark. */
  logo?: { src: string } | undefined;
  /** Where people get help (footer link). */
  supportUrl?: string | undefined;
  /** The stylesheet's address (with the operator's accent colour, a version query). */
  stylesheet: string;
  /** True when the operator set any branding: the footer then no longer says "Secured by Latchkey". */
  custom: boolean;
}

export interface ViewGlobals {
  brand: BrandView;
  /**
   * The path a host app mounts Latchkey under (the issuer's path), if any. Templates write
   * root-relative addresses (`/interaction/…`, `/assets/…`); their pages get it put in front.
   */
  mountPath?: string | undefined;
}

export const DEFAULT_VIEW_GLOBALS: ViewGlobals = Object.freeze({
  brand: Object.freeze({ name: 'Latchkey', stylesheet: '/assets/latchkey.css', custom: false }),
});

const compiled = new Map<string, pug.compileTemplate>();
/** The globals of the app serving this request: several apps (tests) may share one process. */
const appGlobals = new AsyncLocalStorage<ViewGlobals>();

function resolveViewsDir(): string {
  // Running from dist/src/web or from src/web (tests): views/ is at the repository root.
  const here = fileURLToPath(new URL('.', import.meta.url));
  const root = here.includes('/dist/') ? join(here, '../../..') : join(here, '../..');
  return join(root, 'views');
}

const viewsDir = resolveViewsDir();

/**
 * Middleware that gives every page rendered while the rest of the request runs these globals.
 * Apps with Latchkey's own look need none (the defaults apply).
 */
export function useViewGlobals(globals: ViewGlobals) {
  return function viewGlobals(_ctx: Context, next: Next): Promise<unknown> {
    return appGlobals.run(globals, next);
  };
}

/** The globals pages get in the current request. */
export function currentViewGlobals(): ViewGlobals {
  return appGlobals.getStore() ?? DEFAULT_VIEW_GLOBALS;
}

export function renderView(name: string, locals: object): string {
  let template = compiled.get(name);
  if (!template) {
    template = pug.compileFile(join(viewsDir, `${name}.pug`), { basedir: viewsDir });
    compiled.set(name, template);
  }
  const globals = currentViewGlobals();
  const html = template({ ...globals, ...locals });
  return globals.mountPath ? underMountPath(html, globals.mountPath) : html;
}

/**
 * Puts the mount path in front of every root-relative href, src and action. In pug's output
 * `="/` opens an attribute value only (text escapes its quotes); `//host` and absolute URLs stay.
 */
function underMountPath(html: string, mountPath: string): string {
  return html.replace(
    /(\s(?:href|src|action|formaction)=")\/(?![/\\])/g,
    (_match, attribute: string) => `${attribute}${mountPath}/`,
  );
}

export function publicDir(): string {
  return join(viewsDir, '..', 'public');
}
