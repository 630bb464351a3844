// /login-requests and /consent-requests: the operator's app answers the challenges Latchkey sent
// its users' browsers with (LOGIN_URL, CONSENT_URL), with a token holding `admin:login`.
import { route, type AdminRoute } from '../route-table.js';
import {
  ChallengePath,
  ConsentAccept,
  ConsentRequestView,
  LoginAccept,
  LoginRequestView,
  Redirect,
  RequestReject,
} from '../schemas/login-requests.js';
import type { AdminDeps } from '../types.js';

const ANSWERED = 'Answered: send the browser to `redirect_to`. The challenge cannot be answered again (410).';

export function loginRequestRoutes({ services }: AdminDeps): AdminRoute[] {
  const { challenges } = services;
  return [
    route({
      operationId: 'getLoginRequest',
      method: 'get',
      path: '/login-requests/{challenge}',
      scope: 'admin:login',
      tag: 'login and consent',
      summary: 'What a login request asks for',
      description:
        'The client, the requested scopes and APIs, `prompt`, `login_hint`, `max_age`, and the subject of a Latchkey session this browser already has. 404 when the challenge is unknown or expired, 410 once answered.',
      params: ChallengePath,
      answer: { status: 200, description: 'The login request.', schema: LoginRequestView },
      errors: [404, 410],
      handle: ({ params }) => challenges.describeLogin(params.challenge),
    }),
    route({
      operationId: 'acceptLoginRequest',
      method: 'post',
      path: '/login-requests/{challenge}/accept',
      scope: 'admin:login',
      tag: 'login and consent',
      summary: 'Sign the user in as a subject of the app',
      description:
        'Keeps the subject and its claims (a linked subject), and answers where the browser goes next. ' +
        ANSWERED,
      params: ChallengePath,
      body: LoginAccept,
      answer: { status: 200, description: ANSWERED, schema: Redirect },
      errors: [404, 409, 410],
      handle: ({ params, body }) => challenges.acceptLogin(params.challenge, body),
    }),
    route({
      operationId: 'rejectLoginRequest',
      method: 'post',
      path: '/login-requests/{challenge}/reject',
      scope: 'admin:login',
      tag: 'login and consent',
      summary: 'Refuse the sign-in: the client gets the error',
      params: ChallengePath,
      body: RequestReject,
      answer: { status: 200, description: ANSWERED, schema: Redirect },
      errors: [404, 410],
      handle: ({ params, body }) =>
        challenges.reject('login', params.challenge, {
          error: body.error,
          errorDescription: body.error_description,
        }),
    }),
    route({
      operationId: 'getConsentRequest',
      method: 'get',
      path: '/consent-requests/{challenge}',
      scope: 'admin:login',
      tag: 'login and consent',
      summary: 'What a consent request asks for',
      description:
        'The client, the subject, and the scopes and APIs the user has not granted it yet (CONSENT_URL).',
      params: ChallengePath,
      answer: { status: 200, description: 'The consent request.', schema: ConsentRequestView },
      errors: [404, 410],
      handle: ({ params }) => challenges.describeConsent(params.challenge),
    }),
    route({
      operationId: 'acceptConsentRequest',
      method: 'post',
      path: '/consent-requests/{challenge}/accept',
      scope: 'admin:login',
      tag: 'login and consent',
      summary: 'Grant the scopes the user allowed',
      description:
        'Each scope must be one the request asked for (and so one the client may get); the rest are refused. ' +
        ANSWERED,
      params: ChallengePath,
      body: ConsentAccept,
      answer: { status: 200, description: ANSWERED, schema: Redirect },
      errors: [404, 410],
      handle: ({ params, body }) =>
        challenges.acceptConsent(params.challenge, { grantScope: body.grant_scope }),
    }),
    route({
      operationId: 'rejectConsentRequest',
      method: 'post',
      path: '/consent-requests/{challenge}/reject',
      scope: 'admin:login',
      tag: 'login and consent',
      summary: 'Refuse consent: the client gets the error',
      params: ChallengePath,
      body: RequestReject,
      answer: { status: 200, description: ANSWERED, schema: Redirect },
      errors: [404, 410],
      handle: ({ params, body }) =>
        challenges.reject('consent', params.challenge, {
          error: body.error,
          errorDescription: body.error_description,
        }),
    }),
  ];
}
