// The house rules of docs/architecture.md, checked over the imports as the TypeScript compiler reads
// them (`import type` included): no import cycle under src/, packages/, bench/ or examples/, and
// each area imports only what lies below it. A failure names the cycle, or the file, line and
// import that breaks a rule.
import { expect, test } from '@jest/globals';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCycles, readImportGraph, type ImportEdge } from './support/import-graph.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const graph = readImportGraph(root, ['src', 'packages', 'bench', 'examples']);

/** The areas of src/: its folders and main.ts, read from the tree so that a new area is ruled at once. */
const AREAS = [
  ...readdirSync(join(root, 'src'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `src/${entry.name}/`),
  'src/main.ts',
];
/** The composition root and the CLI: they wire the areas. */
const TOP = ['src/http/', 'src/main.ts', 'src/cli/'];
/** Every area of src/ but the ones named. */
const areasBut = (...allowed: string[]) => AREAS.filter((area) => !allowed.includes(area));

interface Rule {
  name: string;
  /** Path prefixes of the files ruled (unit tests beside code excepted: they may cross areas). */
  files: string[];
  /** Path prefixes those files may not import. */
  mayNotImport: string[];
  /** Imports by these module names are allowed wherever they resolve. */
  allowedSpecifiers?: RegExp;
  why: string;
}

const RULES: Rule[] = [
  {
    name: 'src/config/ imports no area',
    files: ['src/config/'],
    mayNotImport: areasBut('src/config/'),
    why: 'the configuration is the ground floor: read once, from the environment alone',
  },
  {
    name: 'src/store/ imports no area but src/config/',
    files: ['src/store/'],
    mayNotImport: areasBut('src/store/', 'src/config/'),
    why: 'the store persists; it knows nothing of the areas that use it',
  },
  {
    name: 'src/web/ imports no area',
    files: ['src/web/'],
    mayNotImport: areasBut('src/web/'),
    why: 'the small web helpers sit below every area and import none',
  },
  {
    name: 'src/vault/ imports nothing from src/authorization/',
    files: ['src/vault/'],
    mayNotImport: ['src/authorization/'],
    why: 'the vault is a client of the authorization server: what it needs, the composition root hands it',
  },
  {
    name: 'no area imports src/http/, src/main.ts or src/cli/',
    files: areasBut(...TOP),
    mayNotImport: TOP,
    why: 'the composition root and the CLI wire the areas; nothing they wire reaches back up to them',
  },
  {
    name: 'packages/ import nothing from src/, bench/, test/ or examples/',
    files: ['packages/'],
    mayNotImport: ['src/', 'bench/', 'test/', 'examples/'],
    why: 'a package stands on its own: it must work when installed alone',
  },
  {
    name: 'examples/ import nothing from src/, bench/ or test/',
    files: ['examples/'],
    mayNotImport: ['src/', 'bench/', 'test/'],
    // The package's own name is its published entry (package.json "exports"): TypeScript reads
    // such a self-reference from the sources that build dist/.
    allowedSpecifiers: /^latchkey(\/|$)/,
    why: 'an example uses Latchkey as its users would: over HTTP and through published packages',
  },
];

const describeEdge = (edge: ImportEdge) => `${edge.from}:${edge.line} -> ${edge.to}   (${edge.statement})`;
const isUnitTest = (file: string) => /\.test\.[cm]?[jt]sx?$/.test(file);

test('the import graph is read', () => {
  // A guard against a silent reader: were nothing resolved, every rule below would pass.
  expect(graph.files.length).toBeGreaterThan(100);
  expect(graph.imports.get('src/main.ts')?.length).toBeGreaterThan(0);
});

test('no import cycle under src/, packages/, bench/ or examples/', () => {
  const cycles = findCycles(graph).map((loop) =>
    ['import cycle:', ...loop.map((edge) => `  ${describeEdge(edge)}`)].join('\n'),
  );
  expect(cycles).toEqual([]);
});

test.each(RULES.map((rule) => [rule.name, rule] as const))('%s', (_name, rule) => {
  const broken = [...graph.imports.values()]
    .flat()
    .filter(
      (edge) =>
        !isUnitTest(edge.from) &&
        rule.files.some((prefix) => edge.from.startsWith(prefix)) &&
        !rule.allowedSpecifiers?.test(edge.specifier) &&
        rule.mayNotImport.some((prefix) => edge.to.startsWith(prefix)),
    )
    .map((edge) => `${describeEdge(edge)}: ${rule.why}`);
  expect(broken).toEqual([]);
});
