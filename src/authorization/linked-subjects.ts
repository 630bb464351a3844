// Linked subjects: users the operator's own app signs in (LOGIN_URL). Latchkey keeps each one's
// subject and claims, as the app gave them at the last sign-in (or through
// PUT /admin/v1/subjects/{subject}/claims), and serves them by scope exactly as its own accounts'.
//
// Stored as oidc records of a model of their own under the SHA-256 of the subject, the claims
// sealed by the keyring (../store/oidc-adapter.ts), so the database alone shows neither.
import type { Keyring } from '../store/encryption.js';
import { RecordAdapter } from '../store/oidc-adapter.js';
import type { Store } from '../store/types.js';
import type { ActiveAccount } from './accounts.js';

const MODEL = 'LinkedSubject';

/** The claims an app may give for its user: those Latchkey's scopes release (accounts.ts). */
export interface LinkedClaims {
  email?: string | undefined;
  email_verified?: boolean | undefined;
  name?: string | undefined;
}

export interface LinkedSubject {
  subject: string;
  claims: LinkedClaims;
  /** Epoch ms of the last change of the claims (the `updated_at` claim). */
  updatedAt: number;
}

export class LinkedSubjectService {
  readonly #records: RecordAdapter;
  readonly #store: Store;

  constructor(store: Store, keyring: Keyring) {
    this.#store = store;
    this.#records = new RecordAdapter(MODEL, store, keyring);
  }

  async get(subject: string): Promise<LinkedSubject | undefined> {
    const payload = await this.#records.find(subject);
    if (!payload) return undefined;
    return {
      subject: payload.subject as string,
      claims: payload.profile as LinkedClaims,
      updatedAt: payload.updatedAt as number,
    };
  }

  /**
   * Records the subject with these claims (a sign-in, or the admin API). Without claims, a known
   * subject keeps its own and a new one starts with none. `updated_at` moves only when they change.
   */
  async put(subject: string, claims?: LinkedClaims): Promise<LinkedSubject> {
    const existing = await this.get(subject);
    const next = definedOnly(claims ?? existing?.claims ?? {});
    const changed = !existing || JSON.stringify(existing.claims) !== JSON.stringify(next);
    const linked = { subject, claims: next, updatedAt: changed ? Date.now() : existing.updatedAt };
    // No accountId in the payload: revoking a subject's grants (revokeByAccountId) keeps its claims.
    await this.#records.upsert(subject, { subject, profile: linked.claims, updatedAt: linked.updatedAt });
    return linked;
  }

  /** The subject as an account that may sign in (AccountService's external accounts). */
  async account(subject: string): Promise<ActiveAccount | undefined> {
    const linked = await this.get(subject);
    if (!linked) return undefined;
    return {
      id: linked.subject,
      email: linked.claims.email,
      emailVerified: linked.claims.email_verified,
      name: linked.claims.name,
      updatedAt: linked.updatedAt,
    };
  }

  /**
   * Ends the subject's Latchkey browser sessions, so that its next authorization request goes
   * to LOGIN_URL again; with `revokeTokens`, also every grant, code and token it holds.
   * Returns how many sessions ended.
   */
  async logout(subject: string, revokeTokens: boolean): Promise<number> {
    const sessions = await this.#store.oidc.findByAccountId('Session', subject);
    for (const session of sessions) await this.#store.oidc.destroy('Session', session.key);
    if (revokeTokens) await this.#store.oidc.revokeByAccountId(subject);
    return sessions.length;
  }
}

/** The claims given, in one order (so that comparing them tells a change). */
function definedOnly(claims: LinkedClaims): LinkedClaims {
  return Object.fromEntries(
    Object.entries(claims)
      .filter(([, value]) => value !== undefined)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}
