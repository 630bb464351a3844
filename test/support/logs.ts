// A pino logger whose lines (JSON, one per entry) a test can read back.
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export function capturingLogger(level: string): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}
