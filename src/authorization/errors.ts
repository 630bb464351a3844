// The errors the authorization server's services throw for a bad admin request. Each interface
// maps them: the CLI to one line and a non-zero exit, the admin API to a 4xx JSON error.

/** The thing a request names (client, user, API, grant) does not exist. */
export class NotFoundError extends Error {
  readonly kind: string;
  readonly id: string;
  constructor(kind: string, id: string) {
    super(`no ${kind} ${id}`);
    this.name = 'NotFoundError';
    this.kind = kind;
    this.id = id;
  }
}
