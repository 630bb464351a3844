// ExampleApp: an Express app that already has users (its own table, its own sign-in page and
// session cookie) and adds "Login with ExampleApp" by mounting Latchkey under /oauth. Its users
// sign in to other apps through ExampleApp's own session: no second account, no second password.
//
//   npm run build && npx node examples/express-app/app.js
//   npx latchkey clients add --name "Photo Printer" --redirect-uri http://localhost:5000/callback
//
// Latchkey reads its usual settings (DATABASE_URL, LATCHKEY_MASTER_KEY …) from the environment;
// its issuer is http://localhost:4000/oauth. The lines marked `// +` are all it took
// (README, "Add Latchkey to an app you already have").
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { createLatchkeyApp } from 'latchkey'; // +

/** The app's own users table (a real app keeps it in its database). */
export const users = [
  {
    id: 'user-1001',
    email: 'grace@example.com',
    emailVerified: true,
    name: 'Grace Hopper',
    passwordHash: hashPassword('correct horse battery staple'),
  },
];

function hashPassword(password, salt = randomBytes(16).toString('hex')) {
  return `${salt}:${scryptSync(password, salt, 32).toString('hex')}`;
}

function passwordMatches(user, password) {
  const [salt, hash] = user.passwordHash.split(':');
  return timingSafeEqual(Buffer.from(hash, 'hex'), scryptSync(password, salt, 32));
}

/** The app's own sessions: a random id in a cookie, the user's id on the server. */
const sessions = new Map();
const SESSION_COOKIE = 'exampleapp.sid';

function cookie(request, name) {
  const pair = (request.headers.cookie ?? '').split(/;\s*/).find((part) => part.startsWith(`${name}=`));
  return pair ? decodeURIComponent(pair.slice(name.length + 1)) : undefined;
}

/** The signed-in user's id, read from the app's own session cookie. */
export function currentUserId(request) {
  const sessionId = cookie(request, SESSION_COOKIE);
  return sessionId ? sessions.get(sessionId) : undefined;
}

/** Only paths on this site are followed after sign-in (no open redirect). */
const localPath = (value) => (typeof value === 'string' && /^\/(?![/\\])/.test(value) ? value : '/');

const escape = (text) => String(text).replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/** The sign-in page; after a wrong password it keeps return_to, so the user stays in the same flow. */
function loginPage(returnTo, error = '', email = '') {
  return `<!doctype html><html lang="en"><title>Sign in · ExampleApp</title>
<h1>Sign in to ExampleApp</h1>${error && `<p role="alert">${escape(error)}</p>`}
<form method="post" action="/login">
  <input type="hidden" name="return_to" value="${escape(localPath(returnTo))}">
  <p><label for="email">Email</label>
    <input id="email" name="email" type="email" value="${escape(email)}" autocomplete="username" required></p>
  <p><label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required></p>
  <button>Sign in</button>
</form></html>`;
}

export async function createApp({ baseUrl = 'http://localhost:4000', env = process.env } = {}) {
  const app = express();

  // + Latchkey under /oauth, before any body parser (it reads its own request bodies).
  const latchkey = await createLatchkeyApp({
    env,
    issuer: `${baseUrl}/oauth`,
    accounts: {
      // The claims of one of our users, by the id Latchkey got from currentUser.
      findAccount(subject) {
        const user = users.find((candidate) => candidate.id === subject);
        return user && { email: user.email, email_verified: user.emailVerified, name: user.name };
      },
      // Who is signed in here: a user who is goes straight to Latchkey's consent page.
      currentUser: (request) => currentUserId(request),
      // Everyone else signs in on our own page, which sends them back into the same flow.
      loginUrl: (returnTo) => `/login?return_to=${encodeURIComponent(returnTo)}`,
    },
  });
  app.use('/oauth', latchkey.callback());

  app.use(express.urlencoded({ extended: false }));

  app.get('/', (request, response) => {
    const user = users.find((candidate) => candidate.id === currentUserId(request));
    response.send(
      user
        ? `<p>Signed in as ${escape(user.name)}.</p><form method="post" action="/logout"><button>Sign out</button></form>`
        : '<p><a href="/login">Sign in</a></p>',
    );
  });

  // The app's own sign-in page (a real one also has CSRF protection and rate limits).
  app.get('/login', (request, response) => {
    response.send(loginPage(request.query.return_to));
  });

  app.post('/login', (request, response) => {
    const user = users.find((candidate) => candidate.email === request.body.email);
    if (!user || !passwordMatches(user, String(request.body.password ?? ''))) {
      response
        .status(401)
        .send(loginPage(request.body.return_to, 'Wrong email or password.', request.body.email ?? ''));
      return;
    }
    const sessionId = randomBytes(32).toString('base64url');
    sessions.set(sessionId, user.id);
    response.cookie(SESSION_COOKIE, sessionId, { httpOnly: true, sameSite: 'lax' });
    response.redirect(303, localPath(request.body.return_to));
  });

  app.post('/logout', (request, response) => {
    sessions.delete(cookie(request, SESSION_COOKIE));
    response.clearCookie(SESSION_COOKIE);
    response.redirect(303, '/');
  });

  return { app, latchkey };
}

// `node examples/express-app/app.js` serves it on PORT (default 4000).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 4000);
  const { app } = await createApp({ baseUrl: process.env.BASE_URL ?? `http://localhost:${port}` });
  app.listen(port, () => console.log(`ExampleApp on http://localhost:${port}, Latchkey under /oauth`));
}
