// How a failed command reads to an operator: one line, no stack. Services throw typed input errors
// (ClientInputError, AccountInputError, ApiInputError, StoreConflictError, ConfigError) whose
// message is already meant for people; oidc-provider's errors keep theirs in error_description.

export { NotFoundError } from '../authorization/errors.js';

/** The one line printed after `latchkey: `. */
export function errorLine(error: unknown): string {
  const shape = (error ?? {}) as { error_description?: unknown; message?: unknown };
  const text =
    typeof shape.error_description === 'string'
      ? shape.error_description
      : typeof shape.message === 'string' && shape.message
        ? shape.message
        : String(error);
  return text.split('\n')[0]!.trim();
}
