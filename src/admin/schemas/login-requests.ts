// Login and consent requests answered by the operator's app (LOGIN_URL, CONSENT_URL), and the
// subjects it signs in, over HTTP: the shapes Ory Hydra's users know, as far as Latchkey has them.
import { z } from 'zod';
import { requestComponent, responseComponent } from './common.js';

/** RFC 6749 §4.1.2.1: error codes and descriptions are printable ASCII without `"` or `\`. */
const OAUTH_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export const ChallengePath = z
  .object({ challenge: z.string().min(1).max(200).meta({ description: 'The challenge from the URL.' }) })
  .strict();

/** OIDC Core §2: `sub` is at most 255 ASCII characters; Latchkey takes printable ones, no spaces. */
export const subject = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces, at most 255 characters (OIDC Core §2)')
  .meta({ description: 'The user’s id in the app: stable, never reused (the `sub` claim).' });

export const SubjectPath = z.object({ subject }).strict();

export const SubjectClaims = requestComponent(
  'SubjectClaims',
  z
    .object({
      email: z.email().max(320).optional(),
      email_verified: z.boolean().optional(),
      name: z.string().trim().min(1).max(200).optional(),
    })
    .strict()
    .meta({
      description:
        'The user’s claims, served by scope like those of Latchkey’s own accounts (`email`: email, email_verified; `profile`: name).',
    }),
);

export const LoginAccept = requestComponent(
  'LoginAccept',
  z
    .object({
      subject,
      claims: SubjectClaims.optional().meta({
        description: 'Replaces the claims kept for the subject; without it, the kept ones stay.',
      }),
      remember: z
        .boolean()
        .optional()
        .meta({ description: 'Keep the Latchkey session after the browser closes (default true).' }),
    })
    .strict(),
);

export const ConsentAccept = requestComponent(
  'ConsentAccept',
  z
    .object({
      grant_scope: z
        .array(z.string().max(200).regex(SCOPE_TOKEN, 'a scope (RFC 6749 §3.3)'))
        .max(200)
        .meta({ description: 'The requested scopes the user allowed; the others are refused.' }),
    })
    .strict(),
);

export const RequestReject = requestComponent(
  'RequestReject',
  z
    .object({
      error: z
        .string()
        .max(100)
        .regex(OAUTH_TEXT, 'an OAuth error code (RFC 6749 §4.1.2.1)')
        .default('access_denied'),
      error_description: z
        .string()
        .max(1000)
        .regex(OAUTH_TEXT, 'printable ASCII without quotes or backslashes (RFC 6749 §4.1.2.1)')
        .optional(),
    })
    .strict(),
);

export const SubjectLogoutInput = requestComponent(
  'SubjectLogoutInput',
  z
    .object({
      revoke_tokens: z
        .boolean()
        .optional()
        .meta({ description: 'Also revoke every grant, code and token of the subject (default false).' }),
    })
    .strict(),
);

const Client = z.object({ client_id: z.string(), client_name: z.string().nullable() });

export const LoginRequestView = responseComponent(
  'LoginRequest',
  z.object({
    challenge: z.string(),
    client: Client,
    requested_scope: z.array(z.string()),
    requested_access_token_audience: z.array(z.string()),
    prompt: z.string().nullable(),
    login_hint: z.string().nullable(),
    max_age: z.number().nullable(),
    subject: z
      .string()
      .nullable()
      .meta({ description: 'The subject a Latchkey session in this browser already knows, if any.' }),
  }),
);

export const ConsentRequestView = responseComponent(
  'ConsentRequest',
  z.object({
    challenge: z.string(),
    client: Client,
    subject: z.string(),
    requested_scope: z
      .array(z.string())
      .meta({ description: 'The scopes not granted yet: OpenID Connect’s and APIs’ alike.' }),
    requested_access_token_audience: z.array(z.string()),
  }),
);

export const Redirect = responseComponent(
  'RequestAnswered',
  z.object({ redirect_to: z.url().meta({ description: 'Where the app sends the browser now.' }) }),
);

export const LinkedSubjectView = responseComponent(
  'LinkedSubject',
  z.object({
    subject: z.string(),
    claims: z.object({
      email: z.string().optional(),
      email_verified: z.boolean().optional(),
      name: z.string().optional(),
    }),
    updated_at: z.string().meta({ format: 'date-time' }),
  }),
);

export const SubjectLogout = responseComponent(
  'SubjectLogout',
  z.object({ subject: z.string(), sessions_ended: z.number().int(), tokens_revoked: z.boolean() }),
);
