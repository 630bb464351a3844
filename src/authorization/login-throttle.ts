// Login throttling (OWASP Authentication Cheat Sheet, "Login Throttling"), in the store so that
// every process and instance counts the same tries, and a restart forgets none. A try is reserved
// before its password is checked, by one atomic counter step, so that a burst of concurrent tries
// cannot all pass a limit that each of them checked before any was counted.
//
// Three limits, so that slowing an attacker does not lock the owner out:
// - per source address, across accounts: `perAddress` failed tries per window, then that address
//   is refused until the window ends. This stops one address spraying passwords over many accounts;
//   successes give their try back, so an office behind one address is not held to it.
// - per (account, source address): `perSource` tries per window, then that address is refused for
//   that account until the window ends. A success clears it. Failures from other addresses never
//   count here, so nobody else can lock the owner out of their own address.
// - per account, from any address: `perAccount` tries per window, then one try at a time, each
//   after a delay that doubles from `firstDelayMs` up to `maxDelayMs`. This slows an attacker with
//   many addresses; the owner still gets a turn.
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { AccountRecord, CounterStore } from '../store/types.js';
import type { AccountService } from './accounts.js';

export interface ThrottleOptions {
  /** Failed tries per source address, across accounts, within the window. Default 50. */
  perAddress?: number;
  /** Tries per (account, source address) within the window; then refused until it ends. Default 5. */
  perSource?: number;
  /** Tries per account, from anywhere, within the window before they are spaced out. Default 10. */
  perAccount?: number;
  /** Window, seconds. Default 900 (15 minutes). */
  windowSeconds?: number;
  /** Delay after the first try beyond `perAccount` (ms), doubling with each further try. Default 1000. */
  firstDelayMs?: number;
  /** Longest delay between tries on one account (ms). Default 30 000. */
  maxDelayMs?: number;
}

export type ThrottleDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

const ALLOWED: ThrottleDecision = Object.freeze({ allowed: true });

/**
 * Where a try comes from: the address, with IPv4-mapped IPv6 addresses as IPv4, and an IPv6 address
 * as its /64 (one subscriber's network: a single host may hold every address in it).
 */
export function sourceOf(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  return `${(parsed as ipaddr.IPv6).parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(':')}::/64`;
}

/** Counter keys carry a hash, not the email or address: the store holds no one's sign-in history. */
function counterKey(kind: string, ...parts: string[]): string {
  return `login:${kind}:${createHash('sha256').update(parts.join('\n')).digest('hex')}`;
}

export class LoginThrottle {
  readonly #counters: CounterStore;
  readonly #perAddress: number;
  readonly #perSource: number;
  readonly #perAccount: number;
  readonly #windowMs: number;
  readonly #firstDelayMs: number;
  readonly #maxDelayMs: number;

  constructor(counters: CounterStore, options: ThrottleOptions = {}) {
    this.#counters = counters;
    this.#perAddress = options.perAddress ?? 50;
    this.#perSource = options.perSource ?? 5;
    this.#perAccount = options.perAccount ?? 10;
    this.#windowMs = (options.windowSeconds ?? 15 * 60) * 1000;
    this.#firstDelayMs = options.firstDelayMs ?? 1000;
    this.#maxDelayMs = options.maxDelayMs ?? 30_000;
  }

  /** Reserves one try for `email` from `address`, before its password is checked. */
  async reserve(email: string, address: string, now = Date.now()): Promise<ThrottleDecision> {
    const byAddressKey = counterKey('address', sourceOf(address));
    const byAddress = await this.#counters.hit(byAddressKey, this.#windowMs, now);
    if (byAddress.count > this.#perAddress) return refused(byAddress.resetAt - now);

    const bySourceKey = counterKey('source', email, sourceOf(address));
    const bySource = await this.#counters.hit(bySourceKey, this.#windowMs, now);
    if (bySource.count > this.#perSource) {
      // Refused for this account alone: it is not a try against the address's other accounts.
      await this.#counters.decrement(byAddressKey, now);
      return refused(bySource.resetAt - now);
    }

    const byAccount = await this.#counters.hit(counterKey('account', email), this.#windowMs, now);
    if (byAccount.count <= this.#perAccount) return ALLOWED;
    // Beyond the allowance, the first try to reach the turn counter after it ends takes the turn.
    const beyond = byAccount.count - this.#perAccount - 1;
    const delayMs = Math.min(this.#firstDelayMs * 2 ** Math.min(beyond, 30), this.#maxDelayMs);
    const turn = await this.#counters.hit(counterKey('turn', email), delayMs, now);
    if (turn.count === 1) return ALLOWED;
    // Not this try's turn: no password was checked, so the address gets its tries back.
    await this.#counters.decrement(bySourceKey, now);
    await this.#counters.decrement(byAddressKey, now);
    return refused(turn.resetAt - now);
  }

  /** The password was right: the address starts afresh, and the account's count drops the try. */
  async succeeded(email: string, address: string, now = Date.now()): Promise<void> {
    await this.#counters.reset(counterKey('source', email, sourceOf(address)));
    await this.#counters.decrement(counterKey('account', email), now);
    await this.#counters.decrement(counterKey('address', sourceOf(address)), now);
  }
}

function refused(waitMs: number): ThrottleDecision {
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
}

function inWords(seconds: number): string {
  if (seconds < 60) return seconds === 1 ? '1 second' : `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
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
  const decision = await throttle.reserve(email, input.address);
  if (!decision.allowed) {
    return {
      ok: false,
      status: 429,
      retryAfter: decision.retryAfterSeconds,
      error: `Too many failed attempts. Try again in ${inWords(decision.retryAfterSeconds)}.`,
    };
  }
  const account = await accounts.authenticate(email, input.password);
  if (!account) return { ok: false, status: 401, error: 'Invalid email or password.' };
  await throttle.succeeded(email, input.address);
  return { ok: true, account };
}
