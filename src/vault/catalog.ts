// The upstream provider catalog: providers.json, checked once against providers.schema.json when
// this module loads. A bad catalog is a developer's mistake, so it throws TypeError at start-up.
import type { SchemaValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import providersData from './providers.json' with { type: 'json' };
import providersSchema from './providers.schema.json' with { type: 'json' };
import type { ProviderDefinition } from './types.js';

/**
 * `uniqueItemProperties` as ajv-keywords defines it: no two array items share a value of the
 * named properties. JSON Schema itself cannot say "names are unique" (`uniqueItems` compares
 * whole items), and one small keyword is cheaper than a dependency.
 */
const uniqueItemProperties: SchemaValidateFunction = (properties: string[], items: unknown[]) => {
  for (const property of properties) {
    const seen = new Set<unknown>();
    for (const item of items) {
      if (item === null || typeof item !== 'object' || !(property in item)) continue;
      const value = (item as Record<string, unknown>)[property];
      if (seen.has(value)) {
        uniqueItemProperties.errors = [
          {
            keyword: 'uniqueItemProperties',
            message: `must not repeat ${property} ${JSON.stringify(value)}`,
          },
        ];
        return false;
      }
      seen.add(value);
    }
  }
  return true;
};

// strictRequired off: the oauth2 branch requires endpoint properties that the parent object defines.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
ajv.addKeyword({
  keyword: 'uniqueItemProperties',
  type: 'array',
  schemaType: 'array',
  validate: uniqueItemProperties,
});
const validateProviders = ajv.compile(providersSchema);

/**
 * Checks a catalog document against providers.schema.json and returns it deep-frozen (entries are
 * shared by every caller). Throws TypeError naming every problem found.
 */
export function parseCatalog(data: unknown, source = 'providers.json'): readonly ProviderDefinition[] {
  if (!validateProviders(data)) {
    throw new TypeError(
      `invalid provider catalog: ${ajv.errorsText(validateProviders.errors, { dataVar: source })}`,
    );
  }
  return deepFreeze(structuredClone(data) as ProviderDefinition[]);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

const providers = parseCatalog(providersData);
const byName = new Map(providers.map((definition) => [definition.name, definition]));

/** The catalog entry called `name` (`google`, `oidc`, ...), or undefined. */
export function getProvider(name: string): ProviderDefinition | undefined {
  return byName.get(name);
}

/** Every catalog entry, in catalog order. */
export function listProviders(): readonly ProviderDefinition[] {
  return providers;
}
