// Login and consent challenges for an app that signs its users in itself (LOGIN_URL, CONSENT_URL),
// as Ory Hydra hands them out. The browser goes to the app with a one-time `login_challenge`; the
// app asks the admin API what is requested, then accepts (a subject and its claims) or rejects,
// and gets a `redirect_to` for the browser. That address carries a second one-time secret, the
// verifier, which completes the interaction only in the browser holding that interaction's
// cookie (./login-handoff.ts): a challenge accepted for another browser gives it nothing.
//
// Challenges and verifiers are oidc records of models of their own, stored under the SHA-256 of
// the value with their payload sealed (../store/oidc-adapter.ts); answering consumes the
// challenge atomically, so a second answer fails and no second code can follow.
import { randomBytes } from 'node:crypto';
import { sha256Hex, type Keyring } from '../store/encryption.js';
import { openRecordPayload, RecordAdapter } from '../store/oidc-adapter.js';
import type { Store } from '../store/types.js';
import { HttpError } from '../web/errors.js';
import type { AccountService } from './accounts.js';
import type { LinkedClaims, LinkedSubjectService } from './linked-subjects.js';

/** How long the app has to answer a challenge (Hydra's default is 30 minutes; sign-in is quicker). */
export const CHALLENGE_TTL_SECONDS = 10 * 60;
/** How long the browser has to follow `redirect_to`: it goes there at once. */
export const VERIFIER_TTL_SECONDS = 5 * 60;

const CHALLENGE_MODEL = 'LoginChallenge';
const VERIFIER_MODEL = 'LoginVerifier';

export type ChallengeKind = 'login' | 'consent';

interface ClientView {
  client_id: string;
  client_name: string | null;
}

/** What the app learns of a login request (GET /admin/v1/login-requests/{challenge}). */
export interface LoginRequest {
  challenge: string;
  client: ClientView;
  requested_scope: string[];
  requested_access_token_audience: string[];
  /** The `prompt` parameter (`login` asks the app to sign the user in again, whatever its session). */
  prompt: string | null;
  login_hint: string | null;
  max_age: number | null;
  /** The subject a Latchkey session in this browser already knows, if any. */
  subject: string | null;
}

/** What the app learns of a consent request (GET /admin/v1/consent-requests/{challenge}). */
export interface ConsentRequest {
  challenge: string;
  client: ClientView;
  subject: string;
  /** The scopes the user has not granted this client yet, OpenID Connect's and APIs' alike. */
  requested_scope: string[];
  requested_access_token_audience: string[];
}

/** What the browser step does with a redeemed verifier. */
export type ChallengeOutcome =
  | { kind: 'login'; uid: string; subject: string; remember: boolean }
  | { kind: 'consent'; uid: string; grantScope: string[] }
  | { kind: ChallengeKind; uid: string; error: string; errorDescription?: string | undefined };

interface ChallengePayload {
  kind: ChallengeKind;
  /** The interaction the challenge belongs to. */
  uid: string;
  clientId: string;
  asked: Omit<LoginRequest, 'challenge'> | Omit<ConsentRequest, 'challenge'>;
}

export interface LoginChallengeDependencies {
  store: Store;
  keyring: Keyring;
  /** The issuer, mount path included: `redirect_to` is an address under it. */
  issuer: string;
  accounts: Pick<AccountService, 'get'>;
  linkedSubjects: LinkedSubjectService;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const secret = () => randomBytes(32).toString('base64url');

export class LoginChallengeService {
  readonly #deps: LoginChallengeDependencies;
  readonly #challenges: RecordAdapter;
  readonly #verifiers: RecordAdapter;

  constructor(deps: LoginChallengeDependencies) {
    this.#deps = deps;
    this.#challenges = new RecordAdapter(CHALLENGE_MODEL, deps.store, deps.keyring);
    this.#verifiers = new RecordAdapter(VERIFIER_MODEL, deps.store, deps.keyring);
  }

  /** A new challenge for the interaction `uid`; the value goes to the app in the browser's URL. */
  async start(kind: 'login', uid: string, request: Omit<LoginRequest, 'challenge'>): Promise<string>;
  async start(kind: 'consent', uid: string, request: Omit<ConsentRequest, 'challenge'>): Promise<string>;
  async start(kind: ChallengeKind, uid: string, request: ChallengePayload['asked']): Promise<string> {
    const challenge = secret();
    const payload: ChallengePayload = { kind, uid, clientId: request.client.client_id, asked: request };
    await this.#challenges.upsert(challenge, { ...payload }, CHALLENGE_TTL_SECONDS);
    return challenge;
  }

  async describeLogin(challenge: string): Promise<LoginRequest> {
    const { payload } = await this.#pending('login', challenge);
    return { challenge, ...(payload.asked as Omit<LoginRequest, 'challenge'>) };
  }

  async describeConsent(challenge: string): Promise<ConsentRequest> {
    const { payload } = await this.#pending('consent', challenge);
    return { challenge, ...(payload.asked as Omit<ConsentRequest, 'challenge'>) };
  }

  /**
   * The app signed its user in as `subject`: the subject and its claims are kept (a linked
   * subject), and the browser is sent on with a verifier.
   */
  async acceptLogin(
    challenge: string,
    answer: { subject: string; claims?: LinkedClaims | undefined; remember?: boolean | undefined },
  ): Promise<{ redirect_to: string }> {
    const { key, payload } = await this.#pending('login', challenge);
    // A subject is one person: one of Latchkey's own accounts cannot be answered for by the app.
    if (await this.#deps.accounts.get(answer.subject))
      throw new HttpError(409, 'conflict', 'subject: the id of one of Latchkey’s own accounts');
    await this.#consume('login', key);
    await this.#deps.linkedSubjects.put(answer.subject, answer.claims);
    return this.#continue(payload.uid, {
      kind: 'login',
      uid: payload.uid,
      subject: answer.subject,
      remember: answer.remember ?? true,
    });
  }

  /** The user allowed these scopes: each must be one the request asked for (400 naming it). */
  async acceptConsent(challenge: string, answer: { grantScope: string[] }): Promise<{ redirect_to: string }> {
    const { key, payload } = await this.#pending('consent', challenge);
    const requested = new Set((payload.asked as ConsentRequest).requested_scope);
    const index = answer.grantScope.findIndex((scope) => !requested.has(scope));
    if (index !== -1)
      throw new HttpError(
        400,
        'invalid_request',
        `body.grant_scope[${index}]: ${answer.grantScope[index]} was not requested (or the client may not have it)`,
      );
    await this.#consume('consent', key);
    return this.#continue(payload.uid, {
      kind: 'consent',
      uid: payload.uid,
      grantScope: [...new Set(answer.grantScope)],
    });
  }

  /** The app refused: the flow ends at the client with this error (RFC 6749 §4.1.2.1). */
  async reject(
    kind: ChallengeKind,
    challenge: string,
    answer: { error: string; errorDescription?: string | undefined },
  ): Promise<{ redirect_to: string }> {
    const { key, payload } = await this.#pending(kind, challenge);
    await this.#consume(kind, key);
    return this.#continue(payload.uid, {
      kind,
      uid: payload.uid,
      error: answer.error,
      errorDescription: answer.errorDescription,
    });
  }

  /** The browser came back with a verifier: its outcome, once; undefined when unknown or used. */
  async redeem(kind: ChallengeKind, verifier: string): Promise<ChallengeOutcome | undefined> {
    const outcome = (await this.#verifiers.find(verifier)) as ChallengeOutcome | undefined;
    if (!outcome || outcome.kind !== kind) return undefined;
    if (!(await this.#deps.store.oidc.consume(VERIFIER_MODEL, sha256Hex(verifier), nowSeconds())))
      return undefined;
    return outcome;
  }

  /** The challenge if it is there and unanswered: 404 unknown (or expired), 410 answered already. */
  async #pending(
    kind: ChallengeKind,
    challenge: string,
  ): Promise<{ key: string; payload: ChallengePayload }> {
    const key = sha256Hex(challenge);
    const record = await this.#deps.store.oidc.find(CHALLENGE_MODEL, key);
    const payload = record && (openRecordPayload(this.#deps.keyring, record) as unknown as ChallengePayload);
    if (!record || !payload || payload.kind !== kind)
      throw new HttpError(404, 'not_found', `no such ${kind} request: unknown, or expired`);
    if (record.consumedAt !== undefined) throw answeredAlready(kind);
    return { key, payload };
  }

  /** Marks the challenge answered; whoever answers second (a race, a replay) gets 410. */
  async #consume(kind: ChallengeKind, key: string): Promise<void> {
    if (!(await this.#deps.store.oidc.consume(CHALLENGE_MODEL, key, nowSeconds())))
      throw answeredAlready(kind);
  }

  async #continue(uid: string, outcome: ChallengeOutcome): Promise<{ redirect_to: string }> {
    const verifier = secret();
    await this.#verifiers.upsert(verifier, { ...outcome }, VERIFIER_TTL_SECONDS);
    const url = new URL(`${this.#deps.issuer.replace(/\/$/, '')}/interaction/${encodeURIComponent(uid)}`);
    url.searchParams.set(`${outcome.kind}_verifier`, verifier);
    return { redirect_to: url.href };
  }
}

/** Hydra answers 410 Gone for a request that was handled already. */
function answeredAlready(kind: ChallengeKind): HttpError {
  return new HttpError(410, 'already_handled', `this ${kind} request was answered already`);
}
