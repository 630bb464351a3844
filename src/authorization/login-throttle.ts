// Login throttling (OWASP Authentication Cheat Sheet): after repeated failures for one account or
// from one address, further attempts are refused for a while, whether or not the password is right.
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { AccountRecord } from '../store/types.js';
import type { AccountService } from './accounts.js';

export interface ThrottleOptions {
  /** Failures allowed per account within the window. */
  perAccount?: number;
  /** Failures allowed per client address within the window. */
  perAddress?: number;
  /** Window and lock-out length, seconds. */
  windowSeconds?: number;
}

export class LoginThrottle {
  readonly #byAccount: RateLimiterMemory;
  readonly #byAddress: RateLimiterMemory;

  constructor(options: ThrottleOptions = {}) {
    const duration = options.windowSeconds ?? 15 * 60;
    this.#byAccount = new RateLimiterMemory({
      keyPrefix: 'login-account',
      points: options.perAccount ?? 5,
      duration,
    });
    this.#byAddress = new RateLimiterMemory({
      keyPrefix: 'login-address',
      points: options.perAddress ?? 30,
      duration,
    });
  }

  /** Seconds to wait before another attempt is allowed; 0 when allowed now. */
  async retryAfter(email: string, address: string): Promise<number> {
    const [account, from] = await Promise.all([this.#byAccount.get(email), this.#byAddress.get(address)]);
    let wait = 0;
    for (const [result, limit] of [
      [account, this.#byAccount.points],
      [from, this.#byAddress.points],
    ] as const) {
      if (result && result.consumedPoints >= limit)
        wait = Math.max(wait, Math.ceil(result.msBeforeNext / 1000));
    }
    return wait;
  }

  async recordFailure(email: string, address: string): Promise<void> {
    await Promise.all([this.#byAccount.penalty(email, 1), this.#byAddress.penalty(address, 1)]);
  }

  async recordSuccess(email: string): Promise<void> {
    await this.#byAccount.delete(email);
  }
}

export type LoginOutcome =
  { ok: true; account: AccountRecord } | { ok: false; status: 401 | 429; error: string; retryAfter?: number };

/** One sign-in attempt, throttled: used by the login page and the account page alike. */
export async function attemptLogin(
  accounts: AccountService,
  throttle: LoginThrottle,
  input: { email: string; password: string; address: string },
): Promise<LoginOutcome> {
  const email = input.email.toLowerCase();
  const wait = await throttle.retryAfter(email, input.address);
  if (wait > 0) {
    return {
      ok: false,
      status: 429,
      retryAfter: wait,
      error: `Too many failed attempts. Try again in ${Math.ceil(wait / 60)} minute(s).`,
    };
  }
  const account = await accounts.authenticate(email, input.password);
  if (!account) {
    await throttle.recordFailure(email, input.address);
    return { ok: false, status: 401, error: 'Invalid email or password.' };
  }
  await throttle.recordSuccess(email);
  return { ok: true, account };
}
