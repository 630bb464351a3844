// Built-in accounts: argon2id password hashes and the claims oidc-provider reads through findAccount.
import argon2 from 'argon2';
import { randomUUID } from 'node:crypto';
import type { AccountRecord, Store } from '../store/types.js';
import { assertArgon2Runs } from './argon2-build.js';

/**
 * argon2id at one of OWASP's minimum configurations (Password Storage Cheat Sheet): m=7 MiB, t=5,
 * p=1. OWASP lists five (46 MiB/t=1, 19 MiB/t=2, 12 MiB/t=3, 9 MiB/t=4, 7 MiB/t=5) as equal in
 * defence, trading memory for passes. The 7 MiB one stays in the CPU's caches: on the 2-core
 * machines here it verifies about 100 passwords/s against 70/s for 19 MiB (`npm run bench`,
 * ceilings), and each login in flight holds 7 MiB instead of 19.
 */
export const PASSWORD_HASH_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 7 * 1024,
  timeCost: 5,
  parallelism: 1,
} as const;

/** The hash options as people write them, for logs and reports: `m=7 MiB, t=5, p=1`. */
export const PASSWORD_HASH_SETTINGS = `m=${PASSWORD_HASH_OPTIONS.memoryCost / 1024} MiB, t=${PASSWORD_HASH_OPTIONS.timeCost}, p=${PASSWORD_HASH_OPTIONS.parallelism}`;

export const MIN_PASSWORD_LENGTH = 8;

export class AccountInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountInputError';
  }
}

/** The claims each scope releases (OIDC Core §5.4). */
export const SCOPE_CLAIMS: Record<string, readonly string[]> = {
  openid: ['sub'],
  profile: ['name', 'updated_at'],
  email: ['email', 'email_verified'],
};

/** The account page's server-side sessions, stored as oidc records of their own model. */
export const ACCOUNT_SESSION_MODEL = 'AccountSession';
/** Browser sessions that carry an accountId: oidc-provider's and the account page's. */
const SESSION_MODELS = ['Session', ACCOUNT_SESSION_MODEL] as const;

const EMAIL = /^[^\s@]+@[^\s@]+$/;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * An account that may sign in: one of Latchkey's own, or a subject whose claims another system
 * keeps (a host app's user, a subject linked through LOGIN_URL), which may lack any claim.
 */
export type ActiveAccount = Pick<AccountRecord, 'id'> &
  Partial<Pick<AccountRecord, 'email' | 'emailVerified' | 'name' | 'updatedAt'>>;

/** Accounts kept outside Latchkey's own table, asked for an id that is not one of its accounts. */
export type ExternalAccounts = (id: string) => Promise<ActiveAccount | undefined>;

export class AccountService {
  readonly #store: Store;
  readonly #external: ExternalAccounts | undefined;
  /** A hash to verify against when the email is unknown, so timing does not reveal accounts. */
  #dummyHash: Promise<string> | undefined;

  constructor(store: Store, external?: ExternalAccounts) {
    this.#store = store;
    this.#external = external;
  }

  async create(input: {
    email: string;
    name: string;
    password: string;
    emailVerified?: boolean;
  }): Promise<AccountRecord> {
    const email = normalizeEmail(input.email);
    if (!EMAIL.test(email) || email.length > 320)
      throw new AccountInputError(`invalid email address: ${input.email}`);
    if (!input.name.trim()) throw new AccountInputError('name must not be empty');
    assertPasswordStrength(input.password);
    assertArgon2Runs();
    const now = Date.now();
    const account: AccountRecord = {
      id: randomUUID(),
      email,
      emailVerified: input.emailVerified ?? false,
      name: input.name.trim(),
      passwordHash: await argon2.hash(input.password, PASSWORD_HASH_OPTIONS),
      createdAt: now,
      updatedAt: now,
    };
    await this.#store.accounts.create(account);
    return account;
  }

  /** The account, disabled or not (admin reads). */
  get(id: string): Promise<AccountRecord | undefined> {
    return this.#store.accounts.get(id);
  }

  /**
   * The account if it may be used now (unknown and disabled accounts are both undefined): one of
   * Latchkey's own, else one the external accounts know (findAccount, userinfo, /v1/users/me).
   */
  async getActive(id: string): Promise<ActiveAccount | undefined> {
    const account = await this.#store.accounts.get(id);
    if (account) return account.disabled ? undefined : account;
    return this.#external?.(id);
  }

  list(): Promise<AccountRecord[]> {
    return this.#store.accounts.list();
  }

  /** Changes an account's email, name or email_verified; undefined when there is none. */
  async update(
    id: string,
    changes: { email?: string | undefined; name?: string | undefined; emailVerified?: boolean | undefined },
  ): Promise<AccountRecord | undefined> {
    const update: Partial<Omit<AccountRecord, 'id' | 'createdAt'>> = {};
    if (changes.email !== undefined) {
      const email = normalizeEmail(changes.email);
      if (!EMAIL.test(email) || email.length > 320)
        throw new AccountInputError(`invalid email address: ${changes.email}`);
      update.email = email;
    }
    if (changes.name !== undefined) {
      if (!changes.name.trim() || changes.name.length > 200)
        throw new AccountInputError('name must be 1 to 200 characters');
      update.name = changes.name.trim();
    }
    if (changes.emailVerified !== undefined) update.emailVerified = changes.emailVerified;
    if (!(await this.#store.accounts.update(id, { ...update, updatedAt: Date.now() }))) return undefined;
    return this.#store.accounts.get(id);
  }

  /**
   * Disables (or enables) an account. Disabling ends its sessions and revokes its grants and
   * tokens at once; it cannot sign in until enabled again.
   */
  async setDisabled(id: string, disabled: boolean): Promise<AccountRecord | undefined> {
    if (!(await this.#store.accounts.update(id, { disabled, updatedAt: Date.now() }))) return undefined;
    if (disabled) await this.#store.oidc.revokeByAccountId(id);
    return this.#store.accounts.get(id);
  }

  /** Removes an account with its sessions, grants and tokens; false when there was none. */
  async remove(id: string): Promise<boolean> {
    // The record first: from here on findAccount knows it no more, so nothing new is issued.
    if (!(await this.#store.accounts.remove(id))) return false;
    await this.#store.oidc.revokeByAccountId(id);
    return true;
  }

  /** Sets a new password and ends the account's sessions (whoever knew the old one is signed out). */
  async setPassword(id: string, password: string): Promise<boolean> {
    assertPasswordStrength(password);
    assertArgon2Runs();
    const passwordHash = await argon2.hash(password, PASSWORD_HASH_OPTIONS);
    if (!(await this.#store.accounts.update(id, { passwordHash, updatedAt: Date.now() }))) return false;
    await this.endSessions(id);
    return true;
  }

  /**
   * Ends every browser session of the account (oidc-provider's and the account page's); its grants
   * and tokens stay, as apps keep the access the user gave them.
   */
  async endSessions(id: string): Promise<void> {
    for (const model of SESSION_MODELS) {
      for (const record of await this.#store.oidc.findByAccountId(model, id)) {
        await this.#store.oidc.destroy(model, record.key);
      }
    }
  }

  /** The account when email and password match; undefined otherwise, in comparable time. */
  async authenticate(email: string, password: string): Promise<AccountRecord | undefined> {
    assertArgon2Runs();
    const account = await this.#store.accounts.findByEmail(normalizeEmail(email));
    if (!account) {
      this.#dummyHash ??= argon2.hash('latchkey-dummy-password', PASSWORD_HASH_OPTIONS);
      await argon2.verify(await this.#dummyHash, password);
      return undefined;
    }
    // argon2.verify compares in constant time.
    if (!(await argon2.verify(account.passwordHash, password))) return undefined;
    // Checked after the password, so that whether an account is disabled tells a guesser nothing.
    if (account.disabled) return undefined;
    if (argon2.needsRehash(account.passwordHash, PASSWORD_HASH_OPTIONS))
      await this.#rehash(account, password);
    return account;
  }

  /**
   * A hash made with other settings (an older release's) is replaced at the next good login, while
   * the password is at hand. A failure leaves the old hash, which still verifies: the next login
   * tries again.
   */
  async #rehash(account: AccountRecord, password: string): Promise<void> {
    try {
      const passwordHash = await argon2.hash(password, PASSWORD_HASH_OPTIONS);
      await this.#store.accounts.update(account.id, { passwordHash });
    } catch {
      // Kept as it was; see above.
    }
  }
}

function assertPasswordStrength(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new AccountInputError(`password must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > 1024) throw new AccountInputError('password must be at most 1024 characters');
}

/** The standard claims of an account, before scope filtering. */
export function accountClaims(account: ActiveAccount): Record<string, unknown> {
  return {
    sub: account.id,
    email: account.email,
    email_verified: account.emailVerified,
    name: account.name,
    updated_at: account.updatedAt === undefined ? undefined : Math.floor(account.updatedAt / 1000),
  };
}

/** Claims allowed by a space-separated scope string. */
export function claimsForScope(
  account: ActiveAccount,
  scope: string,
): { sub: string; [claim: string]: unknown } {
  const all = accountClaims(account);
  const released: { sub: string; [claim: string]: unknown } = { sub: account.id };
  for (const name of scope.split(' ')) {
    // A claim an external account lacks is left out, not released as undefined.
    for (const claim of SCOPE_CLAIMS[name] ?? []) if (all[claim] !== undefined) released[claim] = all[claim];
  }
  return released;
}
