// Accounts over HTTP. A password goes in (create, set-password) and never comes out; neither does
// its hash.
import { z } from 'zod';
import { pageOf, requestComponent, responseComponent, timestamp } from './common.js';

const email = z.string().trim().min(3).max(320).meta({ format: 'email' });
const name = z.string().trim().min(1).max(200);
const password = z
  .string()
  .min(8)
  .max(1024)
  .meta({ description: 'At least 8 characters. Stored as an argon2id hash; never returned.' });

export const UserCreate = requestComponent(
  'UserCreate',
  z.object({ email, name, password, email_verified: z.boolean().optional() }).strict(),
);

export const UserUpdate = requestComponent(
  'UserUpdate',
  z
    .object({ email, name, email_verified: z.boolean() })
    .partial()
    .strict()
    .refine((changes) => Object.keys(changes).length > 0, 'nothing to change: give at least one field'),
);

export const PasswordInput = requestComponent('UserPassword', z.object({ password }).strict());

export const User = responseComponent(
  'User',
  z.object({
    id: z.string(),
    email: z.string(),
    email_verified: z.boolean(),
    name: z.string(),
    disabled: z.boolean(),
    created_at: timestamp,
    updated_at: timestamp,
  }),
);

export const UserPage = pageOf('UserPage', User);

export const UserRemoval = responseComponent(
  'UserRemoval',
  z.object({ id: z.string(), removed: z.literal(true) }),
);

export const PasswordChanged = responseComponent(
  'UserPasswordChanged',
  z.object({ id: z.string(), updated: z.literal(true) }),
);
