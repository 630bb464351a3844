// Mongoose schemas of the token vault's collections: integrations and connections. Their natural
// keys are compound (an app's integration key, an app's end user of an integration), so documents
// keep the default ObjectId `_id` and a unique compound index carries the key instead; the store
// never exposes `_id`.
import { Schema } from 'mongoose';

export interface VaultIntegrationDoc {
  appId: string;
  key: string;
  provider: string;
  clientId: string;
  clientSecretSealed?: string;
  scopes: string[];
  issuer?: string;
  authorizationParams?: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
}

export interface VaultConnectionDoc {
  appId: string;
  integrationKey: string;
  endUserId: string;
  status: 'active' | 'needs_reauth' | 'revoked';
  tokensSealed: string;
  /** The access token's expiry. Not a TTL field: the connection outlives its access token. */
  expiresAt?: Date;
  scopes: string[];
  lastRefreshAt?: Date;
  lastError?: { code: string; message: string; at: Date };
  refreshFailures: number;
  nextRefreshAt?: Date;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

// Same options as the other collections (see models.ts): no `__v`, empty objects kept.
const schemaOptions = { versionKey: false, minimize: false } as const;

export const vaultIntegrationSchema = new Schema<VaultIntegrationDoc>(
  {
    appId: { type: String, required: true },
    key: { type: String, required: true },
    provider: { type: String, required: true },
    clientId: String,
    clientSecretSealed: String,
    scopes: [String],
    issuer: String,
    authorizationParams: Schema.Types.Mixed,
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { ...schemaOptions, collection: 'vault_integrations' },
);
vaultIntegrationSchema.index({ appId: 1, key: 1 }, { unique: true });

// A single nested schema (not a nested path) so that an absent lastError stays absent instead of
// reading back as `{}`.
const lastErrorSchema = new Schema(
  { code: String, message: String, at: Date },
  { _id: false, versionKey: false },
);

export const vaultConnectionSchema = new Schema<VaultConnectionDoc>(
  {
    appId: { type: String, required: true },
    integrationKey: { type: String, required: true },
    endUserId: { type: String, required: true },
    status: { type: String, enum: ['active', 'needs_reauth', 'revoked'], required: true },
    tokensSealed: { type: String, required: true },
    expiresAt: Date,
    scopes: [String],
    lastRefreshAt: Date,
    lastError: lastErrorSchema,
    refreshFailures: { type: Number, required: true },
    nextRefreshAt: Date,
    version: { type: Number, required: true },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { ...schemaOptions, collection: 'vault_connections' },
);
vaultConnectionSchema.index({ appId: 1, integrationKey: 1, endUserId: 1 }, { unique: true });
vaultConnectionSchema.index({ appId: 1, endUserId: 1 });
