// Lets a child `node --experimental-transform-types --import ./test/support/ts-resolve.mjs x.ts`
// run the TypeScript sources directly: imports name `.js` files (as the compiled build does),
// and this maps each to its `.ts` source when no `.js` file exists. The workspace package
// `@latchkey/resource` is read from its sources too, as jest and the type check read it.
import { registerHooks } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const RESOURCE_PACKAGE = new URL('../../packages/resource/src/index.ts', import.meta.url).href;
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === '@latchkey/resource') return nextResolve(RESOURCE_PACKAGE, context);
    if (
      specifier.endsWith('.js') &&
      (specifier.startsWith('.') || specifier.startsWith('/')) &&
      context.parentURL?.startsWith('file:')
    ) {
      const url = new URL(specifier, context.parentURL);
      if (!existsSync(fileURLToPath(url))) {
        const ts = new URL(url.href.replace(/\.js$/, '.ts'));
        if (existsSync(fileURLToPath(ts))) return nextResolve(ts.href, context);
      }
    }
    return nextResolve(specifier, context);
  },
});
