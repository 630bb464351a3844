// The repository's import graph as the TypeScript compiler sees it: every file under the given
// folders, each with the files of this repository it imports (`import`, `import type`, `export …
// from`, `import()`, `require()`, `typeof import()`), resolved as tsc resolves them (NodeNext, so a
// workspace package's name leads to its files under packages/). Used by house-rules.test.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import ts from 'typescript';

/** One import of one file, by repository-relative paths with forward slashes. */
export interface ImportEdge {
  from: string;
  to: string;
  line: number;
  /** The import as written, on one line. */
  statement: string;
  /** The module it names, as written (`./app.js`, `latchkey`). */
  specifier: string;
}

export interface ImportGraph {
  files: string[];
  /** Imports of files in this repository only (packages in node_modules are left out). */
  imports: Map<string, ImportEdge[]>;
}

const SOURCE_EXTENSIONS = new Set(['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs']);
const SKIPPED_FOLDERS = new Set(['node_modules', 'dist', 'coverage']);

function sourceFiles(root: string, folder: string): string[] {
  let entries;
  try {
    entries = readdirSync(join(root, folder), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory()) return SKIPPED_FOLDERS.has(entry.name) ? [] : sourceFiles(root, path);
    return entry.isFile() && SOURCE_EXTENSIONS.has(extname(entry.name)) ? [path] : [];
  });
}

function compilerOptions(root: string): ts.CompilerOptions {
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.convertCompilerOptionsFromJson(config.config?.compilerOptions ?? {}, root);
  return { ...options, allowJs: true, resolveJsonModule: true };
}

interface Specifier {
  name: string;
  node: ts.Node;
  /** `import()` is ESM and `require()` CommonJS whatever the file is; the rest follow the file. */
  mode?: ts.ResolutionMode;
}

/** Every module specifier written as a string literal in `source`. */
function specifiers(source: ts.SourceFile): Specifier[] {
  const found: Specifier[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push({ name: node.moduleSpecifier.text, node });
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push({ name: node.moduleReference.expression.text, node });
    } else if (ts.isCallExpression(node) && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        found.push({ name: node.arguments[0].text, node, mode: ts.ModuleKind.ESNext });
      } else if (ts.isIdentifier(node.expression) && node.expression.text === 'require') {
        found.push({ name: node.arguments[0].text, node, mode: ts.ModuleKind.CommonJS });
      }
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push({ name: node.argument.literal.text, node });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The import graph of the source files under `folders` (relative to `root`). */
export function readImportGraph(root: string, folders: string[]): ImportGraph {
  const options = compilerOptions(root);
  const cache = ts.createModuleResolutionCache(root, (name) => name, options);
  const toRelative = (path: string) => relative(root, path).split(sep).join('/');
  const files = folders.flatMap((folder) => sourceFiles(root, folder)).sort();
  const imports = new Map<string, ImportEdge[]>();
  for (const file of files) {
    const path = join(root, file);
    const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
    const fileMode = ts.getImpliedNodeFormatForFile(path, cache.getPackageJsonInfoCache(), ts.sys, options);
    const edges: ImportEdge[] = [];
    for (const { name, node, mode } of specifiers(source)) {
      const resolved = ts.resolveModuleName(name, path, options, ts.sys, cache, undefined, mode ?? fileMode)
        .resolvedModule?.resolvedFileName;
      if (!resolved) continue; // a broken import is tsc's to report
      const to = toRelative(resolved);
      if (to.startsWith('../') || to.split('/').includes('node_modules')) continue;
      const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      const statement = node.getText(source).replace(/\s+/g, ' ');
      edges.push({ from: file, to, line, statement, specifier: name });
    }
    imports.set(file, edges);
  }
  return { files, imports };
}

/**
 * The import cycles of `graph`: one per strongly connected component (Tarjan) of more than one
 * file, or of a file that imports itself, each given as one closed path through it, shortest first
 * from its first file.
 */
export function findCycles(graph: ImportGraph): ImportEdge[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const targets = (file: string) => (graph.imports.get(file) ?? []).map((edge) => edge.to);

  // Recursive Tarjan: the graph is a few hundred files, far from the stack's limit.
  const connect = (file: string): void => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const next of targets(file)) {
      if (!index.has(next)) {
        connect(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, index.get(next)!));
      }
    }
    if (low.get(file) === index.get(file)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== file);
      components.push(component.sort());
    }
  };
  for (const file of graph.files) if (!index.has(file)) connect(file);

  return components
    .filter((component) => component.length > 1 || targets(component[0]!).includes(component[0]!))
    .map((component) => shortestLoop(graph, component[0]!, new Set(component)))
    .sort((a, b) => a[0]!.from.localeCompare(b[0]!.from));
}

/** The shortest path of imports from `start` back to itself, staying inside `within` (breadth first). */
function shortestLoop(graph: ImportGraph, start: string, within: Set<string>): ImportEdge[] {
  const reachedBy = new Map<string, ImportEdge>();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const edge of graph.imports.get(file) ?? []) {
      if (!within.has(edge.to) || reachedBy.has(edge.to)) continue;
      reachedBy.set(edge.to, edge);
      if (edge.to === start) {
        const loop: ImportEdge[] = [];
        for (let step = edge; ; step = reachedBy.get(step.from)!) {
          loop.unshift(step);
          if (step.from === start) return loop;
        }
      }
      queue.push(edge.to);
    }
  }
  throw new Error(`no loop through ${start}`); // unreachable for a strongly connected component
}
