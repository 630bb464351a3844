// Server-rendered pages: pug templates from views/, compiled once and cached.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import pug from 'pug';

const compiled = new Map<string, pug.compileTemplate>();

function resolveViewsDir(): string {
  // Running from dist/src/web or from src/web (tests): views/ is at the repository root.
  const here = fileURLToPath(new URL('.', import.meta.url));
  const root = here.includes('/dist/') ? join(here, '../../..') : join(here, '../..');
  return join(root, 'views');
}

const viewsDir = resolveViewsDir();

export function renderView(name: string, locals: Record<string, unknown>): string {
  let template = compiled.get(name);
  if (!template) {
    template = pug.compileFile(join(viewsDir, `${name}.pug`), { basedir: viewsDir });
    compiled.set(name, template);
  }
  return template(locals);
}

export function publicDir(): string {
  return join(viewsDir, '..', 'public');
}
