// /keys: the signing keys (public facts only) and their rotation, through the same KeyService as
// `latchkey keys`.
import { route, type AdminRoute } from '../route-table.js';
import { SigningKeyList } from '../schemas/keys.js';
import type { AdminDeps } from '../types.js';
import { keyView } from '../views.js';

export function keyRoutes({ services, reloadKeys }: AdminDeps): AdminRoute[] {
  const { keys } = services;
  return [
    route({
      operationId: 'listKeys',
      method: 'get',
      path: '/keys',
      scope: 'admin:read',
      tag: 'keys',
      summary: 'List the signing keys',
      answer: { status: 200, description: 'Active, next and retired keys.', schema: SigningKeyList },
      handle: async () => ({ data: (await keys.list()).map(keyView) }),
    }),
    route({
      operationId: 'rotateKeys',
      method: 'post',
      path: '/keys/rotate',
      scope: 'admin:write',
      tag: 'keys',
      summary: 'Rotate the signing keys',
      description:
        'Each algorithm’s published next key becomes active, the active one is retired (still published until its tokens expire), and a new next key is published. This process signs with the new keys at once; other processes within 30 seconds.',
      answer: { status: 200, description: 'The keys after rotation.', schema: SigningKeyList },
      handle: async () => {
        const rotated = await keys.rotate();
        await reloadKeys?.();
        return { data: rotated.map(keyView) };
      },
    }),
  ];
}
