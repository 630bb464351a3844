// Mongoose schemas of the MongoDB store: one collection per kind of record, natural keys as `_id`
// (so that uniqueness costs no extra index), timestamps as BSON Dates (so that TTL indexes and
// ordinary tools understand them). The mapping back to the store's record shapes lives beside
// each store, the helpers they share in ./support.ts. Records whose keys are
// compound (client grants here, the vault's in ./vault-models.ts) keep the default ObjectId `_id`
// and carry their key in a unique compound index instead.
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
  clientId?: string;
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
  /** Absent when never set (enabled). */
  disabled?: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** One scope's description: a pair, not an object keyed by scope, since a scope may hold `.` or `$`. */
export interface ScopeDescriptionDoc {
  scope: string;
  text: string;
}

export interface ApiDoc {
  /** The resource indicator. */
  _id: string;
  name?: string;
  scope: string;
  format: 'jwt' | 'opaque';
  signingAlg?: 'RS256' | 'ES256';
  accessTokenTtl: number;
  scopeDescriptions?: ScopeDescriptionDoc[];
  userConsentScopes?: string[];
  createdAt: Date;
  updatedAt?: Date;
}

/** A client grant; like the vault's records, keyed by a unique compound index, `_id` unused. */
export interface ClientGrantDoc {
  clientId: string;
  api: string;
  scopes: string[];
  createdAt: Date;
  updatedAt: Date;
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

export interface CounterDoc {
  _id: string;
  count: number;
  /** When the window ends; a Date, for the TTL index. */
  resetAt: Date;
}

export interface MongoModels {
  oidc: Model<OidcRecordDoc>;
  clients: Model<ClientDoc>;
  accounts: Model<AccountDoc>;
  apis: Model<ApiDoc>;
  clientGrants: Model<ClientGrantDoc>;
  signingKeys: Model<SigningKeyDoc>;
  settings: Model<SettingDoc>;
  leases: Model<LeaseDoc>;
  counters: Model<CounterDoc>;
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
    clientId: String,
  },
  { ...schemaOptions, collection: 'oidc_records' },
);
// TTL deletion runs about once a minute, so every read also filters on expiresAt (see unexpired()).
oidcRecordSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });
oidcRecordSchema.index({ grantId: 1 });
oidcRecordSchema.index({ model: 1, uid: 1 });
oidcRecordSchema.index({ model: 1, userCode: 1 });
// (accountId, model) serves a lookup by account alone (revokeByAccountId) and by account within a
// model (findByAccountId); it replaces the earlier (model, accountId), see RETIRED_INDEXES.
oidcRecordSchema.index({ accountId: 1, model: 1 });
oidcRecordSchema.index({ clientId: 1 });

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
    disabled: Boolean,
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
    // `default: undefined`: mongoose would otherwise give an absent array `[]`, and an API written
    // without these fields must read back without them.
    scopeDescriptions: {
      type: [
        new Schema<ScopeDescriptionDoc>({ scope: String, text: String }, { _id: false, versionKey: false }),
      ],
      default: undefined,
    },
    userConsentScopes: { type: [String], default: undefined },
    createdAt: { type: Date, required: true },
    updatedAt: Date,
  },
  { ...schemaOptions, collection: 'apis' },
);

const clientGrantSchema = new Schema<ClientGrantDoc>(
  {
    clientId: { type: String, required: true },
    api: { type: String, required: true },
    scopes: [String],
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { ...schemaOptions, collection: 'client_grants' },
);
// The unique key serves a client's grants in API order; the second index an API's in client order.
clientGrantSchema.index({ clientId: 1, api: 1 }, { unique: true });
clientGrantSchema.index({ api: 1, clientId: 1 });

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

const counterSchema = new Schema<CounterDoc>(
  {
    _id: { type: String, required: true },
    count: { type: Number, required: true },
    resetAt: { type: Date, required: true },
  },
  { ...schemaOptions, collection: 'counters' },
);
// Only tidiness: hit() starts a new window on an ended counter whether or not TTL has removed it.
counterSchema.index({ resetAt: 1 }, { expireAfterSeconds: 0 });

/** Registers the models on this connection (never on the global mongoose). */
export function createModels(connection: Connection): MongoModels {
  return {
    oidc: connection.model<OidcRecordDoc>('OidcRecord', oidcRecordSchema),
    clients: connection.model<ClientDoc>('Client', clientSchema),
    accounts: connection.model<AccountDoc>('Account', accountSchema),
    apis: connection.model<ApiDoc>('Api', apiSchema),
    clientGrants: connection.model<ClientGrantDoc>('ClientGrant', clientGrantSchema),
    signingKeys: connection.model<SigningKeyDoc>('SigningKey', signingKeySchema),
    settings: connection.model<SettingDoc>('Setting', settingSchema),
    leases: connection.model<LeaseDoc>('Lease', leaseSchema),
    counters: connection.model<CounterDoc>('Counter', counterSchema),
    vaultIntegrations: connection.model<VaultIntegrationDoc>('VaultIntegration', vaultIntegrationSchema),
    vaultConnections: connection.model<VaultConnectionDoc>('VaultConnection', vaultConnectionSchema),
  };
}

/**
 * Indexes that earlier versions created and a later one replaced: createIndexes never drops an
 * index by itself, so these are dropped by name.
 */
const RETIRED_INDEXES: readonly { model: keyof MongoModels; name: string }[] = [
  // Replaced by (accountId, model), which serves the same lookups and those across models.
  { model: 'oidc', name: 'model_1_accountId_1' },
];

// Server error codes: the index, or the whole collection, does not exist (nothing to drop).
const INDEX_NOT_FOUND = 27;
const NAMESPACE_NOT_FOUND = 26;

/**
 * Creates every collection's indexes and drops retired ones; idempotent (MongoDB skips an index
 * that already exists, and a retired index that is gone is left alone).
 */
export async function createIndexes(models: MongoModels): Promise<void> {
  for (const model of Object.values(models) as Model<unknown>[]) {
    await model.createIndexes();
  }
  for (const { model, name } of RETIRED_INDEXES) {
    try {
      await models[model].collection.dropIndex(name);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code !== INDEX_NOT_FOUND && code !== NAMESPACE_NOT_FOUND) throw error;
    }
  }
}
