// Opens the MongoDB store's own mongoose connection and turns a failure into one line that names
// the host(s) but never the credentials, since start-up errors end up in logs and terminals.
import mongoose, { type Connection } from 'mongoose';
import { ConnectionString } from 'mongodb-connection-string-url';

export interface MongoConnectOptions {
  serverSelectionTimeoutMS?: number | undefined;
}

export async function connectMongo(uri: string, options: MongoConnectOptions = {}): Promise<Connection> {
  const parsed = parseUri(uri);
  const where = parsed.hosts.join(',');
  // A connection of our own, not the global mongoose: the store must not share models or state
  // with anything else in the process. Indexes and collections are created by migrate, not by
  // mongoose behind our back at the first query.
  const connection = mongoose.createConnection(uri, {
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 5000,
    autoIndex: false,
    autoCreate: false,
  });
  try {
    return await connection.asPromise();
  } catch (error) {
    // Without this the driver's monitors keep retrying (and keep the process alive).
    await connection.close(true).catch(() => undefined);
    throw new Error(`cannot reach MongoDB at ${where} (${redact(describe(error), parsed.secrets)})`, {
      cause: error,
    });
  }
}

interface ParsedUri {
  hosts: string[];
  /** User name and password, to scrub from any message that might echo them. */
  secrets: string[];
}

function parseUri(uri: string): ParsedUri {
  let connectionString: ConnectionString;
  try {
    connectionString = new ConnectionString(uri);
  } catch (error) {
    // The parser's messages describe the problem, not the URI; scrub `user:pass@` anyway.
    throw new Error(`invalid MongoDB connection string (${redact(describe(error), [])})`, { cause: error });
  }
  const secrets = [connectionString.password, connectionString.username]
    .filter((value) => value.length > 0)
    .flatMap((value) => [value, safeDecode(value)]);
  // hosts keep their port as written; a mongodb+srv:// URI lists the SRV name alone.
  return { hosts: connectionString.hosts, secrets };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function redact(message: string, secrets: string[]): string {
  let result = message.replace(/\/\/[^/@\s]*@/g, '//');
  for (const secret of secrets) result = result.split(secret).join('***');
  return result.replace(/\s+/g, ' ').trim();
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
