// What a CLI command may touch (streams and environment, so that tests run it in-process) and the
// few ways it prints: one JSON document, key/value lines, or a table.
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
}

/** Options every command takes. */
export interface OutputOptions {
  json?: boolean;
}

/** A command that does something: it takes `--json` like every other. */
export function subcommand(parent: Command, name: string, description: string): Command {
  return parent.command(name).description(description).option('--json', 'print one JSON document on stdout');
}

/** Repeatable options collect into an array (`--redirect-uri a --redirect-uri b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function writeLines(io: CliIo, lines: string[]): void {
  io.stdout.write(lines.map((line) => line + '\n').join(''));
}

/** A warning for the operator: stderr, so that stdout stays one JSON document. */
export function warn(io: CliIo, message: string): void {
  io.stderr.write(`latchkey: warning: ${message}\n`);
}

function display(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map(display).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** `key  value` lines, keys padded to one column. */
export function formatPairs(record: Record<string, unknown>): string[] {
  const width = Math.max(0, ...Object.keys(record).map((key) => key.length));
  return Object.entries(record).map(([key, value]) => `${key.padEnd(width)}  ${display(value)}`.trimEnd());
}

/** A plain-text table with a header row; `empty` is printed when there are no rows. */
export function formatTable(columns: string[], rows: unknown[][], empty: string): string[] {
  if (rows.length === 0) return [empty];
  const cells = [columns, ...rows.map((row) => row.map(display))];
  const widths = columns.map((_, index) => Math.max(...cells.map((row) => (row[index] ?? '').length)));
  return cells.map((row) =>
    row
      .map((cell, index) => cell.padEnd(widths[index]!))
      .join('  ')
      .trimEnd(),
  );
}

/** Everything on stdin, as text (for --password-stdin and db import). */
export async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
