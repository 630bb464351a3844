// What the admin area needs from the composition root, declared here so that the area imports
// services and nothing that assembles it.
import type { DpopReplayStore } from '@latchkey/resource';
import type Provider from 'oidc-provider';
import type { AccountService } from '../authorization/accounts.js';
import type { ApiService } from '../authorization/apis.js';
import type { ClientGrantService } from '../authorization/client-grants.js';
import type { ClientService, ClientValidator } from '../authorization/clients.js';
import type { KeyService } from '../authorization/keys.js';
import type { LinkedSubjectService } from '../authorization/linked-subjects.js';
import type { LoginChallengeService } from '../authorization/login-challenges.js';
import type { Vault } from '../vault/vault.js';

export interface AdminServices {
  clients: ClientService;
  grants: ClientGrantService;
  apis: ApiService;
  accounts: AccountService;
  keys: KeyService;
  linkedSubjects: LinkedSubjectService;
  challenges: LoginChallengeService;
}

export interface AdminDeps {
  issuer: string;
  services: AdminServices;
  vault: Pick<Vault, 'integrations' | 'connectFlow'>;
  /** The provider now serving requests: opaque tokens are checked through it, in-process. */
  provider: () => Provider;
  /** Checks client metadata as the running oidc-provider would (so a bad client fails at once). */
  validateClient: ClientValidator;
  /** Makes this process sign with rotated keys at once (others notice on their next reload). */
  reloadKeys?: () => Promise<unknown>;
  /** Where seen DPoP proofs are remembered (shared by every instance); default this process's memory. */
  replayStore?: DpopReplayStore;
}

export type AdminScope = 'admin:read' | 'admin:write' | 'admin:login';
