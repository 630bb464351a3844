// /users: accounts that sign in with a password, through the same AccountService as
// `latchkey users`. Passwords go in; neither they nor their hashes come out.
import { NotFoundError } from '../../authorization/errors.js';
import { paginate } from '../pagination.js';
import { route, type AdminRoute } from '../route-table.js';
import { PageQuery, recordId } from '../schemas/common.js';
import {
  PasswordChanged,
  PasswordInput,
  User,
  UserCreate,
  UserPage,
  UserRemoval,
  UserUpdate,
} from '../schemas/users.js';
import type { AdminDeps } from '../types.js';
import { userView } from '../views.js';
import { z } from 'zod';

const UserPath = z.object({ id: recordId.meta({ description: 'The user id (`sub`).' }) }).strict();

function found<T>(value: T | undefined | false, id: string): T {
  if (value === undefined || value === false) throw new NotFoundError('user', id);
  return value;
}

export function userRoutes({ services }: AdminDeps): AdminRoute[] {
  const { accounts } = services;
  const switchRoute = (disabled: boolean) =>
    route({
      operationId: disabled ? 'disableUser' : 'enableUser',
      method: 'post',
      path: `/users/{id}/${disabled ? 'disable' : 'enable'}`,
      scope: 'admin:write',
      tag: 'users',
      summary: disabled ? 'Stop a user signing in' : 'Let a user sign in again',
      ...(disabled
        ? { description: 'Ends the user’s sessions and revokes their grants and tokens at once.' }
        : {}),
      params: UserPath,
      answer: { status: 200, description: 'The user as it is now.', schema: User },
      errors: [404],
      handle: async ({ params }) =>
        userView(found(await accounts.setDisabled(params.id, disabled), params.id)),
    });
  return [
    route({
      operationId: 'listUsers',
      method: 'get',
      path: '/users',
      scope: 'admin:read',
      tag: 'users',
      summary: 'List users',
      query: PageQuery,
      answer: { status: 200, description: 'A page of users.', schema: UserPage },
      handle: async ({ query }) =>
        paginate(
          (await accounts.list()).map(userView),
          (user) => [Date.parse(user.created_at), user.id],
          query,
        ),
    }),
    route({
      operationId: 'createUser',
      method: 'post',
      path: '/users',
      scope: 'admin:write',
      tag: 'users',
      summary: 'Create a user',
      body: UserCreate,
      answer: { status: 201, description: 'The user (never the password).', schema: User },
      errors: [409],
      handle: async ({ body }) =>
        userView(
          await accounts.create({
            email: body.email,
            name: body.name,
            password: body.password,
            emailVerified: body.email_verified,
          }),
        ),
    }),
    route({
      operationId: 'getUser',
      method: 'get',
      path: '/users/{id}',
      scope: 'admin:read',
      tag: 'users',
      summary: 'Show a user',
      params: UserPath,
      answer: { status: 200, description: 'The user.', schema: User },
      errors: [404],
      handle: async ({ params }) => userView(found(await accounts.get(params.id), params.id)),
    }),
    route({
      operationId: 'updateUser',
      method: 'patch',
      path: '/users/{id}',
      scope: 'admin:write',
      tag: 'users',
      summary: 'Change a user’s email, name or email verification',
      params: UserPath,
      body: UserUpdate,
      answer: { status: 200, description: 'The user as it is now.', schema: User },
      errors: [404, 409],
      handle: async ({ params, body }) =>
        userView(
          found(
            await accounts.update(params.id, {
              email: body.email,
              name: body.name,
              emailVerified: body.email_verified,
            }),
            params.id,
          ),
        ),
    }),
    route({
      operationId: 'removeUser',
      method: 'delete',
      path: '/users/{id}',
      scope: 'admin:write',
      tag: 'users',
      summary: 'Remove a user with their sessions, grants and tokens',
      params: UserPath,
      answer: { status: 200, description: 'The user is gone.', schema: UserRemoval },
      errors: [404],
      handle: async ({ params }) => {
        found(await accounts.remove(params.id), params.id);
        return { id: params.id, removed: true };
      },
    }),
    switchRoute(true),
    switchRoute(false),
    route({
      operationId: 'setUserPassword',
      method: 'post',
      path: '/users/{id}/set-password',
      scope: 'admin:write',
      tag: 'users',
      summary: 'Set a user’s password',
      params: UserPath,
      body: PasswordInput,
      answer: { status: 200, description: 'The password is set.', schema: PasswordChanged },
      errors: [404],
      handle: async ({ params, body }) => {
        found(await accounts.setPassword(params.id, body.password), params.id);
        return { id: params.id, updated: true };
      },
    }),
  ];
}
