// Lets a child `node --experimental-transform-types --import ./test/support/ts-resolve.mjs x.ts`
// run the TypeScript sources directly: imports name `.js` files (as the compiled build does),
// and this maps each to its `.ts` source when no `.js` file exists.
import { registerHooks } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
registerHooks({
  resolve(specifier, context, nextResolve) {
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
