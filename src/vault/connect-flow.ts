// The connect flow: an app asks for a one-time connect URL; the end user's browser opens it and is
// sent to the provider with a one-time `state` bound to that browser (RFC 9700 §4.7) and PKCE
// where the provider supports it; the callback exchanges the code and stores the connection.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as oauth from 'openid-client';
import type { Keyring } from '../store/encryption.js';
import { sha256Hex } from '../store/encryption.js';
import type { Store } from '../store/types.js';
import type { ConnectionService } from './connections.js';
import type { IntegrationService } from './integrations.js';
import { VaultError, type UpstreamClient } from './types.js';

/** Connect URLs and provider round trips live this long. */
export const CONNECT_SESSION_TTL_SECONDS = 10 * 60;

const SESSION_MODEL = 'VaultConnectSession';
const STATE_MODEL = 'VaultAuthState';

interface ConnectSession {
  appId: string;
  integrationKey: string;
  endUserId: string;
  returnUrl: string;
}

interface AuthState extends ConnectSession {
  codeVerifier?: string | undefined;
  /** SHA-256 of the browser-binding cookie value. */
  binding: string;
  scopes: string[];
}

/** Where the browser goes next: the provider, or the app's return URL with the outcome. */
export interface Redirect {
  location: string;
}

const randomToken = () => randomBytes(32).toString('base64url');

export class ConnectFlow {
  readonly #store: Store;
  readonly #keyring: Keyring;
  readonly #integrations: IntegrationService;
  readonly #connections: ConnectionService;
  readonly #upstream: UpstreamClient;
  readonly #issuer: string;

  constructor(deps: {
    store: Store;
    keyring: Keyring;
    integrations: IntegrationService;
    connections: ConnectionService;
    upstream: UpstreamClient;
    issuer: string;
  }) {
    this.#store = deps.store;
    this.#keyring = deps.keyring;
    this.#integrations = deps.integrations;
    this.#connections = deps.connections;
    this.#upstream = deps.upstream;
    this.#issuer = deps.issuer.replace(/\/$/, '');
  }

  /** The redirect URI an app registers at the provider for its integrations. */
  get callbackUrl(): string {
    return `${this.#issuer}/vault/callback`;
  }

  async #put(model: string, id: string, payload: object): Promise<void> {
    const key = sha256Hex(id);
    await this.#store.oidc.upsert({
      model,
      key,
      payload: this.#keyring.seal(JSON.stringify(payload), `${model}:${key}`),
      expiresAt: Date.now() + CONNECT_SESSION_TTL_SECONDS * 1000,
    });
  }

  /** Reads and consumes a one-time record: a second use finds nothing. */
  async #take<T>(model: string, id: string): Promise<T | undefined> {
    const key = sha256Hex(id);
    const record = await this.#store.oidc.find(model, key);
    if (!record || !(await this.#store.oidc.consume(model, key, Math.floor(Date.now() / 1000))))
      return undefined;
    await this.#store.oidc.destroy(model, key);
    return JSON.parse(this.#keyring.open(record.payload, `${model}:${key}`)) as T;
  }

  /** Step 1 (the app, over the API): a one-time connect URL that expires in minutes. */
  async createSession(
    appId: string,
    input: { integrationKey: string; endUserId: string; returnUrl: string },
  ) {
    await this.#integrations.get(appId, input.integrationKey);
    const token = randomToken();
    await this.#put(SESSION_MODEL, token, { appId, ...input } satisfies ConnectSession);
    return {
      url: `${this.#issuer}/vault/connect/${token}`,
      expires_at: new Date(Date.now() + CONNECT_SESSION_TTL_SECONDS * 1000).toISOString(),
    };
  }

  /**
   * Step 2 (the end user's browser opens the URL): returns the provider's authorization URL and
   * the browser-binding value to set as a cookie.
   */
  async start(sessionToken: string): Promise<Redirect & { binding: string }> {
    const session = await this.#take<ConnectSession>(SESSION_MODEL, sessionToken);
    if (!session)
      throw new VaultError(
        'connect_session_expired',
        410,
        'This connect link has expired or was used already. Go back to the app and try again.',
      );
    const integration = await this.#integrations.get(session.appId, session.integrationKey);
    const definition = this.#integrations.definitionOf(integration);
    const provider = await this.#upstream.resolve(definition, integration);
    const state = randomToken();
    const binding = randomToken();
    const codeVerifier = definition.pkce ? oauth.randomPKCECodeVerifier() : undefined;
    const scopes = [...new Set([...(definition.defaultScopes ?? []), ...integration.scopes])];
    await this.#put(STATE_MODEL, state, {
      ...session,
      codeVerifier,
      binding: sha256Hex(binding),
      scopes,
    } satisfies AuthState);
    const url = this.#upstream.authorizationUrl(provider, this.#integrations.credentials(integration), {
      redirectUri: this.callbackUrl,
      scopes,
      state,
      codeChallenge: codeVerifier ? await oauth.calculatePKCECodeChallenge(codeVerifier) : undefined,
      extraParams: { ...definition.authorizationParams, ...integration.authorizationParams },
    });
    return { location: url.href, binding };
  }

  /**
   * Step 3 (the provider sends the browser back): checks state and browser binding, exchanges the
   * code, stores the connection, and returns the app's return URL with the outcome.
   */
  async callback(params: URLSearchParams, binding: string | undefined): Promise<Redirect> {
    const stateParam = params.get('state');
    const state = stateParam ? await this.#take<AuthState>(STATE_MODEL, stateParam) : undefined;
    if (!state)
      throw new VaultError(
        'connect_session_expired',
        400,
        'This sign-in has expired or was completed already. Go back to the app and try again.',
      );
    if (!binding || !sameHash(sha256Hex(binding), state.binding)) {
      // RFC 9700 §4.7.1: a state from another browser is a CSRF attempt, not a success.
      throw new VaultError(
        'invalid_request',
        400,
        'This sign-in was started in another browser. Go back to the app and try again.',
      );
    }
    const outcome = (fields: Record<string, string>) => {
      const url = new URL(state.returnUrl);
      url.searchParams.set('integration', state.integrationKey);
      url.searchParams.set('end_user_id', state.endUserId);
      for (const [name, value] of Object.entries(fields)) url.searchParams.set(name, value);
      return { location: url.href };
    };
    const error = params.get('error');
    const code = params.get('code');
    if (error || !code) {
      // RFC 6749 §4.1.2.1: the provider's own error code, passed on as the outcome.
      return outcome({
        status: 'error',
        error: /^[\w.-]{1,64}$/.test(error ?? '') ? error! : 'invalid_request',
      });
    }
    try {
      const integration = await this.#integrations.get(state.appId, state.integrationKey);
      const provider = await this.#upstream.resolve(
        this.#integrations.definitionOf(integration),
        integration,
      );
      const response = await this.#upstream.exchangeCode(
        provider,
        this.#integrations.credentials(integration),
        {
          code,
          redirectUri: this.callbackUrl,
          codeVerifier: state.codeVerifier,
        },
      );
      await this.#connections.saveConnected(
        state.appId,
        state.integrationKey,
        state.endUserId,
        response,
        state.scopes,
      );
      return outcome({ status: 'connected' });
    } catch (failure) {
      if (!(failure instanceof VaultError)) throw failure;
      return outcome({
        status: 'error',
        error: failure.code === 'needs_reauth' ? 'invalid_grant' : failure.code,
      });
    }
  }
}

function sameHash(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}
