// Moving every record between stores (`latchkey db export` / `db import`) as JSON lines: a header
// line, then one ExportEntry per line. Values travel as stored, hashed or sealed, so a dump is no
// more usable than the database it came from, and an import needs the same master key to be of use.
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import type {
  AccountRecord,
  ApiRecord,
  ClientGrantRecord,
  ClientRecord,
  ExportEntry,
  OidcRecord,
  SettingRecord,
  SigningKeyRecord,
  Store,
  VaultConnectionRecord,
  VaultIntegrationRecord,
} from './types.js';

export const EXPORT_FORMAT_VERSION = 1;

const epochMs = z.number().int().nonnegative();
const epochSeconds = z.number().int().nonnegative();
const jsonObject = z.record(z.string(), z.unknown());

const oidcRecord = z.strictObject({
  model: z.string().min(1),
  key: z.string().min(1),
  payload: z.string(),
  grantId: z.string().optional(),
  uid: z.string().optional(),
  userCode: z.string().optional(),
  expiresAt: epochMs.optional(),
  consumedAt: epochSeconds.optional(),
  accountId: z.string().optional(),
  clientId: z.string().optional(),
});

const clientRecord = z.strictObject({
  clientId: z.string().min(1),
  metadata: jsonObject,
  secretSealed: z.string().optional(),
  createdAt: epochMs,
  updatedAt: epochMs,
});

const accountRecord = z.strictObject({
  id: z.string().min(1),
  email: z.string().min(1),
  emailVerified: z.boolean(),
  name: z.string(),
  passwordHash: z.string().min(1),
  disabled: z.boolean().optional(),
  createdAt: epochMs,
  updatedAt: epochMs,
});

const apiRecord = z.strictObject({
  identifier: z.string().min(1),
  name: z.string().optional(),
  scope: z.string(),
  format: z.enum(['jwt', 'opaque']),
  signingAlg: z.enum(['RS256', 'ES256']).optional(),
  accessTokenTtl: z.number().int().positive(),
  scopeDescriptions: z.record(z.string(), z.string()).optional(),
  userConsentScopes: z.array(z.string()).optional(),
  createdAt: epochMs,
  updatedAt: epochMs.optional(),
});

const clientGrantRecord = z.strictObject({
  clientId: z.string().min(1),
  api: z.string().min(1),
  scopes: z.array(z.string()).min(1),
  createdAt: epochMs,
  updatedAt: epochMs,
});

const signingKeyRecord = z.strictObject({
  kid: z.string().min(1),
  alg: z.string().min(1),
  status: z.enum(['next', 'active', 'retired']),
  publicJwk: jsonObject,
  privateSealed: z.string().min(1),
  createdAt: epochMs,
  activatedAt: epochMs.optional(),
  retiredAt: epochMs.optional(),
  expiresAt: epochMs.optional(),
});

const settingRecord = z.strictObject({ name: z.string().min(1), value: z.string() });

const vaultIntegrationRecord = z.strictObject({
  appId: z.string().min(1),
  key: z.string().min(1),
  provider: z.string().min(1),
  clientId: z.string(),
  clientSecretSealed: z.string().optional(),
  scopes: z.array(z.string()),
  issuer: z.string().optional(),
  authorizationParams: z.record(z.string(), z.string()).optional(),
  createdAt: epochMs,
  updatedAt: epochMs,
});

const vaultConnectionRecord = z.strictObject({
  appId: z.string().min(1),
  integrationKey: z.string().min(1),
  endUserId: z.string().min(1),
  status: z.enum(['active', 'needs_reauth', 'revoked']),
  tokensSealed: z.string().min(1),
  expiresAt: epochMs.optional(),
  scopes: z.array(z.string()),
  lastRefreshAt: epochMs.optional(),
  lastError: z.strictObject({ code: z.string(), message: z.string(), at: epochMs }).optional(),
  refreshFailures: z.number().int().nonnegative(),
  nextRefreshAt: epochMs.optional(),
  version: z.number().int().nonnegative(),
  createdAt: epochMs,
  updatedAt: epochMs,
});

const exportEntry = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('oidc'), record: oidcRecord }),
  z.strictObject({ kind: z.literal('client'), record: clientRecord }),
  z.strictObject({ kind: z.literal('clientGrant'), record: clientGrantRecord }),
  z.strictObject({ kind: z.literal('account'), record: accountRecord }),
  z.strictObject({ kind: z.literal('api'), record: apiRecord }),
  z.strictObject({ kind: z.literal('signingKey'), record: signingKeyRecord }),
  z.strictObject({ kind: z.literal('setting'), record: settingRecord }),
  z.strictObject({ kind: z.literal('vaultIntegration'), record: vaultIntegrationRecord }),
  z.strictObject({ kind: z.literal('vaultConnection'), record: vaultConnectionRecord }),
]);

/**
 * A compile-time check that a schema has exactly the fields of its record type: the schemas are
 * strict, so a field added to a record type but not here would make every export carrying it fail
 * to import. A mismatch fails the typecheck here ("Expected 1 arguments").
 */
const sameFields = <Schema, Record>(
  ..._mismatch: [Exclude<keyof Schema, keyof Record> | Exclude<keyof Record, keyof Schema>] extends [never]
    ? []
    : [never]
) => undefined;
sameFields<z.output<typeof oidcRecord>, OidcRecord>();
sameFields<z.output<typeof clientRecord>, ClientRecord>();
sameFields<z.output<typeof clientGrantRecord>, ClientGrantRecord>();
sameFields<z.output<typeof accountRecord>, AccountRecord>();
sameFields<z.output<typeof apiRecord>, ApiRecord>();
sameFields<z.output<typeof signingKeyRecord>, SigningKeyRecord>();
sameFields<z.output<typeof settingRecord>, SettingRecord>();
sameFields<z.output<typeof vaultIntegrationRecord>, VaultIntegrationRecord>();
sameFields<z.output<typeof vaultConnectionRecord>, VaultConnectionRecord>();
sameFields<
  NonNullable<z.output<typeof vaultConnectionRecord>['lastError']>,
  NonNullable<VaultConnectionRecord['lastError']>
>();

// Unknown header keys are allowed: a later writer may add information a reader can ignore.
const header = z.looseObject({ latchkey_export: z.literal(EXPORT_FORMAT_VERSION), created_at: z.string() });

/** A line of an import that could not be read or written; `line` counts from 1. */
export class ImportLineError extends Error {
  constructor(
    readonly line: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`line ${line}: ${message}`, options);
    this.name = 'ImportLineError';
  }
}

/**
 * Writes the header and every record of `store` to `out`, one JSON document per line, honouring
 * back-pressure. Leaves `out` open (it may be stdout). Returns how many records were written.
 */
export async function exportStore(store: Store, out: NodeJS.WritableStream | Writable): Promise<number> {
  const write = async (value: unknown) => {
    if (!out.write(JSON.stringify(value) + '\n')) await once(out, 'drain');
  };
  await write({
    latchkey_export: EXPORT_FORMAT_VERSION,
    created_at: new Date().toISOString(),
    store: store.kind,
  });
  let count = 0;
  for await (const entry of store.exportAll()) {
    await write(entry);
    count += 1;
  }
  return count;
}

/**
 * Reads what exportStore wrote and writes each record into `store`, replacing any record with the
 * same identity, so that an import stopped by a bad line can be run again once the line is fixed.
 * Throws ImportLineError naming the first bad line. Returns how many records were imported.
 */
export async function importStore(store: Store, input: Readable): Promise<number> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNumber = 0;
  let count = 0;
  let sawHeader = false;
  try {
    for await (const line of lines) {
      lineNumber += 1;
      if (line.trim() === '') continue;
      const value = parseJson(line, lineNumber);
      if (!sawHeader) {
        if (!header.safeParse(value).success) {
          throw new ImportLineError(
            lineNumber,
            `not a latchkey export (expected a version ${EXPORT_FORMAT_VERSION} header)`,
          );
        }
        sawHeader = true;
        continue;
      }
      const entry = parseEntry(value, lineNumber);
      try {
        await store.importEntry(entry);
      } catch (error) {
        throw new ImportLineError(lineNumber, error instanceof Error ? error.message : String(error), {
          cause: error,
        });
      }
      count += 1;
    }
  } finally {
    lines.close();
  }
  if (!sawHeader) throw new ImportLineError(Math.max(lineNumber, 1), 'not a latchkey export (no header)');
  return count;
}

function parseJson(line: string, lineNumber: number): unknown {
  try {
    return JSON.parse(line);
  } catch (error) {
    throw new ImportLineError(lineNumber, `not valid JSON (${(error as Error).message})`, { cause: error });
  }
}

function parseEntry(value: unknown, lineNumber: number): ExportEntry {
  const result = exportEntry.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue && issue.path.length > 0 ? issue.path.join('.') + ': ' : '';
  throw new ImportLineError(lineNumber, `not a valid record (${path}${issue?.message ?? 'invalid'})`, {
    cause: result.error,
  });
}
