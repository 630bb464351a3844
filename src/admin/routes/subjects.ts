// /subjects: the users an app signs in through LOGIN_URL, as Latchkey keeps them (their claims,
// their sessions), for when they change their profile or sign out of the app.
import { HttpError } from '../../web/errors.js';
import type { LinkedSubject } from '../../authorization/linked-subjects.js';
import { route, type AdminRoute } from '../route-table.js';
import {
  LinkedSubjectView,
  SubjectClaims,
  SubjectLogout,
  SubjectLogoutInput,
  SubjectPath,
} from '../schemas/login-requests.js';
import type { AdminDeps } from '../types.js';

function linkedSubjectView(linked: LinkedSubject) {
  return {
    subject: linked.subject,
    claims: linked.claims,
    updated_at: new Date(linked.updatedAt).toISOString(),
  };
}

export function subjectRoutes({ services }: AdminDeps): AdminRoute[] {
  const { linkedSubjects, accounts } = services;
  return [
    route({
      operationId: 'setSubjectClaims',
      method: 'put',
      path: '/subjects/{subject}/claims',
      scope: 'admin:login',
      tag: 'login and consent',
      summary: 'Set the claims kept for a subject of the app',
      description:
        'Replaces them (the next sign-in through LOGIN_URL replaces them again). ID tokens, userinfo and /v1/users/me serve them from now on.',
      params: SubjectPath,
      body: SubjectClaims,
      answer: { status: 200, description: 'The subject as kept now.', schema: LinkedSubjectView },
      errors: [409],
      handle: async ({ params, body }) => {
        if (await accounts.get(params.subject))
          throw new HttpError(409, 'conflict', 'subject: the id of one of Latchkey’s own accounts');
        return linkedSubjectView(await linkedSubjects.put(params.subject, body));
      },
    }),
    route({
      operationId: 'logoutSubject',
      method: 'post',
      path: '/subjects/{subject}/logout',
      scope: 'admin:login',
      tag: 'login and consent',
      summary: 'End a subject’s Latchkey sessions',
      description:
        'For when the user signs out of the app: the next authorization request goes to LOGIN_URL again. With `revoke_tokens`, the apps the user connected also lose their grants, codes and tokens.',
      params: SubjectPath,
      body: SubjectLogoutInput,
      answer: { status: 200, description: 'The sessions ended.', schema: SubjectLogout },
      handle: async ({ params, body }) => {
        const revoke = body.revoke_tokens ?? false;
        const ended = await linkedSubjects.logout(params.subject, revoke);
        return { subject: params.subject, sessions_ended: ended, tokens_revoked: revoke };
      },
    }),
  ];
}
