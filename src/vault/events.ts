// Vault domain events. Logic emits them; logging (and, later, webhooks and metrics) subscribe.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

export interface ConnectionEvent {
  appId: string;
  integrationKey: string;
  endUserId: string;
  /** Stable error code and what the provider answered, for refresh_failed. */
  error?: { code: string; message: string };
  status?: string;
}

export const VAULT_EVENTS = [
  'vault.connection.created',
  'vault.connection.refreshed',
  'vault.connection.refresh_failed',
  'vault.connection.deleted',
] as const;
export type VaultEventName = (typeof VAULT_EVENTS)[number];

export class VaultEvents extends EventEmitter<Record<VaultEventName, [ConnectionEvent]>> {}

/** Logs every vault event as one structured line (ids and codes only, never tokens). */
export function logVaultEvents(events: VaultEvents, logger: Logger): void {
  const log = logger.child({ area: 'vault' });
  for (const name of VAULT_EVENTS) {
    events.on(name, (event) => {
      if (name === 'vault.connection.refresh_failed') log.warn({ event: name, ...event });
      else log.info({ event: name, ...event });
    });
  }
}
