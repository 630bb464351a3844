// Preloaded by ./memory-experiments.ts into a server whose configuration sets the old generation's
// growth on the command line, or leaves it to V8: the server's own applyHeapSettings()
// (src/http/memory-settings.ts) then sets no --heap-growing-percent of its own. An experiment's tool
// only; nothing else loads it.
import { syncBuiltinESMExports } from 'node:module';
import v8 from 'node:v8';

const setFlags = v8.setFlagsFromString.bind(v8);
v8.setFlagsFromString = (flags: string) => {
  if (!flags.startsWith('--heap-growing-percent')) setFlags(flags);
};
// `import { setFlagsFromString } from 'node:v8'` binds to the builtin's export, not the property.
syncBuiltinESMExports();
