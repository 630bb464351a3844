// Built-in accounts: argon2id password hashes and the claims oidc-provider reads through findAccount.
import argon2 from 'argon2';
import { randomUUID } from 'node:crypto';
import type { AccountRecord, Store } from '../store/types.js';

/**
 * argon2id at OWASP's recommended minimum (m=19 MiB, t=2, p=1; OWASP Password Storage Cheat
 * Sheet), which keeps a login well under 100 ms on one core.
 */
export const PASSWORD_HASH_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 19 * 1024,
  timeCost: 2,
  parallelism: 1,
} as const;

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

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export class AccountService {
  readonly #store: Store;
  /** A hash to verify against when the email is unknown, so timing does not reveal accounts. */
  #dummyHash: Promise<string> | undefined;

  constructor(store: Store) {
    this.#store = store;
  }

  async create(input: {
    email: string;
    name: string;
    password: string;
    emailVerified?: boolean;
  }): Promise<AccountRecord> {
    const email = normalizeEmail(input.email);
    if (!/^[^\s@]+@[^\s@]+$/.test(email))
      throw new AccountInputError(`invalid email address: ${input.email}`);
    if (!input.name.trim()) throw new AccountInputError('name must not be empty');
    assertPasswordStrength(input.password);
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

  get(id: string): Promise<AccountRecord | undefined> {
    return this.#store.accounts.get(id);
  }

  list(): Promise<AccountRecord[]> {
    return this.#store.accounts.list();
  }

  remove(id: string): Promise<boolean> {
    return this.#store.accounts.remove(id);
  }

  async setPassword(id: string, password: string): Promise<boolean> {
    assertPasswordStrength(password);
    const passwordHash = await argon2.hash(password, PASSWORD_HASH_OPTIONS);
    return this.#store.accounts.update(id, { passwordHash, updatedAt: Date.now() });
  }

  /** The account when email and password match; undefined otherwise, in comparable time. */
  async authenticate(email: string, password: string): Promise<AccountRecord | undefined> {
    const account = await this.#store.accounts.findByEmail(normalizeEmail(email));
    if (!account) {
      this.#dummyHash ??= argon2.hash('latchkey-dummy-password', PASSWORD_HASH_OPTIONS);
      await argon2.verify(await this.#dummyHash, password);
      return undefined;
    }
    // argon2.verify compares in constant time.
    return (await argon2.verify(account.passwordHash, password)) ? account : undefined;
  }
}

function assertPasswordStrength(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new AccountInputError(`password must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > 1024) throw new AccountInputError('password must be at most 1024 characters');
}

/** The standard claims of an account, before scope filtering. */
export function accountClaims(account: AccountRecord): Record<string, unknown> {
  return {
    sub: account.id,
    email: account.email,
    email_verified: account.emailVerified,
    name: account.name,
    updated_at: Math.floor(account.updatedAt / 1000),
  };
}

/** Claims allowed by a space-separated scope string. */
export function claimsForScope(
  account: AccountRecord,
  scope: string,
): { sub: string; [claim: string]: unknown } {
  const all = accountClaims(account);
  const released: { sub: string; [claim: string]: unknown } = { sub: account.id };
  for (const name of scope.split(' ')) {
    for (const claim of SCOPE_CLAIMS[name] ?? []) released[claim] = all[claim];
  }
  return released;
}
