// Signing keys over HTTP: public facts only (the private half never leaves the store sealed).
import { z } from 'zod';
import { listOf, responseComponent, timestamp } from './common.js';

export const SigningKey = responseComponent(
  'SigningKey',
  z.object({
    kid: z.string(),
    alg: z.string(),
    status: z.enum(['active', 'next', 'retired']).meta({
      description:
        'active signs; next is published and signs after rotation; retired is kept until its tokens expire.',
    }),
    created_at: timestamp,
    activated_at: timestamp.nullable(),
    retired_at: timestamp.nullable(),
    expires_at: timestamp.nullable(),
  }),
);

export const SigningKeyList = listOf('SigningKeyList', SigningKey);
