// The package's root entry (`import { createLatchkeyApp } from 'latchkey'`): Latchkey as a Koa app
// that a Node app mounts under a path of its own, with its users signing in through the app.
export { createLatchkeyApp, type LatchkeyApp, type LatchkeyAppOptions } from './http/latchkey-app.js';
export type { HostAccounts, HostClaims } from './authorization/login-handoff.js';
