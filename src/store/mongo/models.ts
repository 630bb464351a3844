// Mongoose schemas of the MongoDB store: one collection per kind of record, natural keys as `_id`
// (so that uniqueness costs no extra index), timestamps as BSON Dates (so that TTL indexes and
// ordinary tools understand them). The mapping back to the store's record shapes lives beside
// each store; this file also holds the small helpers those mappings share. The vault's schemas,
// whose keys are compound, live in ./vault-models.ts.
import { Schema, type Connection, type Model } from 'mongoose';
import {
  vaultConnectionSchema,
  vaultIntegrationSchema,
  type VaultConnectionDoc,
  type VaultIntegrationDoc,
} from './vault-models.js';

export type { VaultConnectionDoc, VaultIntegrationDoc } from './vault-models.js';

export interface OidcRecordDoc {
  /** `${model}:${key}`: one record per (model, key) without a second unique index. */
  _id: string;
  model: string;
  key: string;
  payload: string;
  grantId?: string;
  uid?: string;
  userCode?: string;
  expiresAt?: Date;
  /** Epoch seconds, as oidc-provider counts them; never queried by range, so not a Date. */
  consumedAt?: number;
  accountId?: string;
}

export interface ClientDoc {
  _id: string;
  metadata: Record<string, unknown>;
  secretSealed?: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface AccountDoc {
  _id: string;
  email: string;
  emailVerified: boolean;
  name: string;
  passwordHash: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface ApiDoc {
  /** The resource indicator. */
  _id: string;
  name?: string;
  scope: string;
  format: 'jwt' | 'opaque';
  signingAlg?: 'RS256' | 'ES256';
  accessTokenTtl: number;
  createdAt: Date;
}

export interface SigningKeyDoc {
  _id: string;
  alg: string;
  status: 'next' | 'active' | 'retired';
  publicJwk: Record<string, unknown>;
  privateSealed: string;
  createdAt: Date;
  activatedAt?: Date;
  retiredAt?: Date;
  /** Not a TTL field: the key service decides when a retired key leaves the JWKS. */
  expiresAt?: Date;
}

export interface SettingDoc {
  _id: string;
  value: string;
}

export interface LeaseDoc {
  _id: string;
  owner: string;
  expiresAt: Date;
}

export interface MongoModels {
  oidc: Model<OidcRecordDoc>;
  clients: Model<ClientDoc>;
  accounts: Model<AccountDoc>;
  apis: Model<ApiDoc>;
  signingKeys: Model<SigningKeyDoc>;
  settings: Model<SettingDoc>;
  leases: Model<LeaseDoc>;
  vaultIntegrations: Model<VaultIntegrationDoc>;
  vaultConnections: Model<VaultConnectionDoc>;
}

// Strings that may legitimately be empty (a name, a scope list) are not `required`: mongoose's
// required validator refuses ''. The record shapes are already checked by TypeScript and zod.
// `minimize: false` keeps empty objects (client metadata `{}` must read back as `{}`);
// no `__v`, since every write replaces or updates whole fields and never relies on versioning.
const schemaOptions = { versionKey: false, minimize: false } as const;

const oidcRecordSchema = new Schema<OidcRecordDoc>(
  {
    _id: { type: String, required: true },
    model: { type: String, required: true },
    key: { type: String, required: true },
    payload: String,
    grantId: String,
    uid: String,
    userCode: String,
    expiresAt: Date,
    consumedAt: Number,
    accountId: String,
  },
  { ...schemaOptions, collection: 'oidc_records' },
);
// TTL deletion runs about once a minute, so every read also filters on expiresAt (see unexpired()).
oidcRecordSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });
oidcRecordSchema.index({ grantId: 1 });
oidcRecordSchema.index({ model: 1, uid: 1 });
oidcRecordSchema.index({ model: 1, userCode: 1 });
oidcRecordSchema.index({ model: 1, accountId: 1 });

const clientSchema = new Schema<ClientDoc>(
  {
    _id: { type: String, required: true },
    metadata: { type: Schema.Types.Mixed, required: true },
    secretSealed: String,
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { ...schemaOptions, collection: 'clients' },
);

const accountSchema = new Schema<AccountDoc>(
  {
    _id: { type: String, required: true },
    email: { type: String, required: true },
    emailVerified: { type: Boolean, required: true },
    name: String,
    passwordHash: { type: String, required: true },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { ...schemaOptions, collection: 'accounts' },
);
accountSchema.index({ email: 1 }, { unique: true });

const apiSchema = new Schema<ApiDoc>(
  {
    _id: { type: String, required: true },
    name: String,
    scope: String,
    format: { type: String, enum: ['jwt', 'opaque'], required: true },
    signingAlg: { type: String, enum: ['RS256', 'ES256'] },
    accessTokenTtl: { type: Number, required: true },
    createdAt: { type: Date, required: true },
  },
  { ...schemaOptions, collection: 'apis' },
);

const signingKeySchema = new Schema<SigningKeyDoc>(
  {
    _id: { type: String, required: true },
    alg: { type: String, required: true },
    status: { type: String, enum: ['next', 'active', 'retired'], required: true },
    publicJwk: { type: Schema.Types.Mixed, required: true },
    privateSealed: { type: String, required: true },
    createdAt: { type: Date, required: true },
    activatedAt: Date,
    retiredAt: Date,
    expiresAt: Date,
  },
  { ...schemaOptions, collection: 'signing_keys' },
);

const settingSchema = new Schema<SettingDoc>(
  { _id: { type: String, required: true }, value: String },
  { ...schemaOptions, collection: 'settings' },
);

const leaseSchema = new Schema<LeaseDoc>(
  {
    _id: { type: String, required: true },
    owner: { type: String, required: true },
    expiresAt: { type: Date, required: true },
  },
  { ...schemaOptions, collection: 'leases' },
);
// Only tidiness: acquire() treats an expired lease as free whether or not TTL has removed it.
leaseSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

/** Registers the models on this connection (never on the global mongoose). */
export function createModels(connection: Connection): MongoModels {
  return {
    oidc: connection.model<OidcRecordDoc>('OidcRecord', oidcRecordSchema),
    clients: connection.model<ClientDoc>('Client', clientSchema),
    accounts: connection.model<AccountDoc>('Account', accountSchema),
    apis: connection.model<ApiDoc>('Api', apiSchema),
    signingKeys: connection.model<SigningKeyDoc>('SigningKey', signingKeySchema),
    settings: connection.model<SettingDoc>('Setting', settingSchema),
    leases: connection.model<LeaseDoc>('Lease', leaseSchema),
    vaultIntegrations: connection.model<VaultIntegrationDoc>('VaultIntegration', vaultIntegrationSchema),
    vaultConnections: connection.model<VaultConnectionDoc>('VaultConnection', vaultConnectionSchema),
  };
}

/** Creates every collection's indexes; idempotent (MongoDB skips an index that already exists). */
export async function createIndexes(models: MongoModels): Promise<void> {
  for (const model of Object.values(models) as Model<unknown>[]) {
    await model.createIndexes();
  }
}

/** MongoDB's duplicate-key error (E11000), from a unique index or `_id`. */
export function isDuplicateKeyError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}

/** Filter for documents whose `expiresAt` is absent or still in the future. */
export function unexpired(now = Date.now()) {
  return { $or: [{ expiresAt: null }, { expiresAt: { $gt: new Date(now) } }] };
}

export const toDate = (epochMs: number | undefined): Date | undefined =>
  epochMs === undefined ? undefined : new Date(epochMs);

export const toEpochMs = (date: Date | null | undefined): number | undefined =>
  date == null ? undefined : date.getTime();

/**
 * Drops keys whose value is undefined or null: the record shapes mark absent optional fields by
 * leaving them out, and the BSON serializer would otherwise store `undefined` as `null`.
 */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field != null)) as T;
}
