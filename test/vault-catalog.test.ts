// The provider catalog: providers.json passes its JSON Schema, holds the providers the vault
// promises, and the schema turns away the mistakes a catalog edit could make.
import { describe, expect, it } from '@jest/globals';
import { getProvider, listProviders, parseCatalog } from '../src/vault/catalog.js';
import providers from '../src/vault/providers.json' with { type: 'json' };
import type { ProviderDefinition } from '../src/vault/types.js';

const REQUIRED = [
  'google',
  'microsoft',
  'github',
  'slack',
  'dropbox',
  'notion',
  'salesforce',
  'hubspot',
  'zoom',
  'box',
  'oidc',
];

function catalogWith(change: (entries: Record<string, unknown>[]) => void): unknown {
  const copy = structuredClone(providers) as Record<string, unknown>[];
  change(copy);
  return copy;
}

function entry(entries: Record<string, unknown>[], name: string): Record<string, unknown> {
  const found = entries.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no ${name} in the catalog`);
  return found;
}

describe('provider catalog', () => {
  it('validates against providers.schema.json', () => {
    expect(() => parseCatalog(providers)).not.toThrow();
    expect(listProviders()).toHaveLength(providers.length);
  });

  it('has every provider the vault promises, each found by name', () => {
    const names = listProviders().map((definition) => definition.name);
    expect(names).toEqual(expect.arrayContaining(REQUIRED));
    for (const name of REQUIRED) expect(getProvider(name)?.name).toBe(name);
    expect(getProvider('nope')).toBeUndefined();
    expect(getProvider('Google')).toBeUndefined();
  });

  it('gives every oauth2 provider https endpoints and an API base', () => {
    for (const definition of listProviders().filter((candidate) => candidate.kind === 'oauth2')) {
      for (const url of [definition.authorizationUrl, definition.tokenUrl, definition.apiBaseUrl]) {
        expect(new URL(url!).protocol).toBe('https:');
      }
    }
  });

  it('records the quirks the vault relies on', () => {
    expect(getProvider('slack')).toMatchObject({
      scopeSeparator: ',',
      tokenUrl: 'https://slack.com/api/oauth.v2.access',
    });
    expect(getProvider('slack')?.notes).toMatch(/user_scope/);
    expect(getProvider('dropbox')?.authorizationParams).toEqual({ token_access_type: 'offline' });
    expect(getProvider('google')?.authorizationParams).toMatchObject({ access_type: 'offline' });
    expect(getProvider('microsoft')?.tokenUrl).toBe(
      'https://login.microsoftonline.com/common/oauth2/v2.0/token',
    );
    expect(getProvider('notion')?.tokenEndpointAuthMethod).toBe('client_secret_basic');
    expect(getProvider('box')?.refresh).toEqual({ supported: true, rotates: true });
    expect(getProvider('zoom')?.refresh.rotates).toBe(true);
    const oidc = getProvider('oidc')!;
    expect(oidc.kind).toBe('oidc');
    expect(oidc.tokenUrl).toBeUndefined();
    expect(oidc.defaultScopes).toContain('openid');
  });

  it('hands out frozen entries', () => {
    const google = getProvider('google') as ProviderDefinition;
    expect(Object.isFrozen(google)).toBe(true);
    expect(Object.isFrozen(google.refresh)).toBe(true);
  });

  describe('rejects a broken catalog with TypeError', () => {
    it.each([
      ['an oauth2 entry without tokenUrl', (entries) => delete entry(entries, 'google').tokenUrl, /tokenUrl/],
      [
        'an oauth2 entry without apiBaseUrl',
        (entries) => delete entry(entries, 'zoom').apiBaseUrl,
        /apiBaseUrl/,
      ],
      [
        'a plain http URL',
        (entries) => (entry(entries, 'github').tokenUrl = 'http://github.com/login/oauth/access_token'),
        /tokenUrl must match pattern/,
      ],
      [
        'a URL with a fragment',
        (entries) => (entry(entries, 'box').authorizationUrl = 'https://account.box.com/authorize#x'),
        /authorizationUrl/,
      ],
      [
        'a duplicate name',
        (entries) => entries.push({ ...entry(entries, 'slack') }),
        /must not repeat name "slack"/,
      ],
      [
        'an upper-case name',
        (entries) => (entry(entries, 'hubspot').name = 'HubSpot'),
        /name must match pattern/,
      ],
      [
        'an oidc entry with fixed endpoints',
        (entries) => (entry(entries, 'oidc').tokenUrl = 'https://idp.example/token'),
        /must NOT be valid/,
      ],
      [
        'a rotating provider without refresh',
        (entries) => (entry(entries, 'zoom').refresh = { supported: false, rotates: true }),
        /rotates must be equal to constant/,
      ],
      [
        'a parameter the vault sets itself',
        (entries) => (entry(entries, 'google').authorizationParams = { state: 'fixed' }),
        /property name must be valid/,
      ],
      [
        'an unknown property',
        (entries) => (entry(entries, 'notion').tokenURL = 'https://api.notion.com/v1/oauth/token'),
        /must NOT have additional properties/,
      ],
      [
        'an unknown auth method',
        (entries) => (entry(entries, 'salesforce').tokenEndpointAuthMethod = 'private_key_jwt'),
        /tokenEndpointAuthMethod/,
      ],
    ] as [string, (entries: Record<string, unknown>[]) => unknown, RegExp][])(
      '%s',
      (_case, change, message) => {
        expect(() => parseCatalog(catalogWith(change))).toThrow(TypeError);
        expect(() => parseCatalog(catalogWith(change))).toThrow(message);
      },
    );

    it('an empty catalog or one that is not an array', () => {
      expect(() => parseCatalog([])).toThrow(TypeError);
      expect(() => parseCatalog({ google: {} })).toThrow(/must be array/);
    });
  });
});
