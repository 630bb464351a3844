// A small app in another process that signs users in for Latchkey through LOGIN_URL, with plain
// HTTP calls only: it stands for a Rails, Django or PHP app, which would make the same calls
// (README, "Add Latchkey to an app you already have", the curl calls).
//
//   LOGIN_URL=http://localhost:4001/login npm start   # registers the admin API, $ISSUER/admin
//   # then, in a second terminal:
//   npx latchkey clients add --name "Sign-in app" --grant-types client_credentials --json
//   npx latchkey clients grant CLIENT_ID --api http://localhost:3000/admin --scope admin:login
//   LATCHKEY_URL=http://localhost:3000 CLIENT_ID=… CLIENT_SECRET=… npx node examples/login-url-app/app.js
/* global fetch, URLSearchParams */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const LATCHKEY_URL = process.env.LATCHKEY_URL ?? 'http://localhost:3000';
const { CLIENT_ID, CLIENT_SECRET } = process.env;
const ADMIN = `${LATCHKEY_URL}/admin/v1`;

/** The app's own users table (a real app keeps it in its database). */
const users = [
  {
    id: 'member-42',
    email: 'alan@example.com',
    emailVerified: true,
    name: 'Alan Turing',
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

/** A token for Latchkey's admin API with `admin:login`, by client_credentials, reused until it expires. */
let token = { value: '', expiresAt: 0 };
async function adminToken() {
  if (Date.now() < token.expiresAt - 10_000) return token.value;
  const response = await fetch(`${LATCHKEY_URL}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: `grant_type=client_credentials&scope=admin:login&resource=${encodeURIComponent(`${LATCHKEY_URL}/admin`)}`,
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`token: ${body.error}: ${body.error_description}`);
  token = { value: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 };
  return token.value;
}

/** One call to the admin API: GET, or POST/PUT with a JSON body. */
async function admin(method, path, body) {
  const response = await fetch(`${ADMIN}${path}`, {
    method,
    headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: await response.json() };
}

/** Tells Latchkey who signed in; answers where the browser goes next. */
async function acceptLogin(challenge, user) {
  const claims = { email: user.email, email_verified: user.emailVerified, name: user.name };
  const answer = await admin('POST', `/login-requests/${encodeURIComponent(challenge)}/accept`, {
    subject: user.id,
    claims,
    remember: true,
  });
  if (answer.status !== 200) throw new Error(`accept: ${answer.body.error_description}`);
  return answer.body.redirect_to;
}

const escape = (text) => String(text).replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
const sessionOf = (request) =>
  sessions.get(/(?:^|;\s*)app\.sid=([^;]+)/.exec(request.headers.cookie ?? '')?.[1]);

function loginPage(challenge, error = '', email = '') {
  return `<!doctype html><html lang="en"><title>Sign in · Members' site</title>
<h1>Sign in to the members' site</h1>${error && `<p role="alert">${escape(error)}</p>`}
<form method="post" action="/login">
  <input type="hidden" name="login_challenge" value="${escape(challenge)}">
  <p><label for="email">Email</label>
    <input id="email" name="email" type="email" value="${escape(email)}" autocomplete="username"></p>
  <p><label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password"></p>
  <button>Sign in</button> <button name="cancel" value="1">Cancel</button>
</form></html>`;
}

async function handle(request, response) {
  const url = new URL(request.url, 'http://app.invalid');
  const send = (status, html) => response.writeHead(status, { 'content-type': 'text/html' }).end(html);
  const redirect = (location, cookie) =>
    response.writeHead(303, { location, ...(cookie ? { 'set-cookie': cookie } : {}) }).end();

  // LOGIN_URL: Latchkey sent the browser here with ?login_challenge=…
  if (request.method === 'GET' && url.pathname === '/login') {
    const challenge = url.searchParams.get('login_challenge') ?? '';
    const login = await admin('GET', `/login-requests/${encodeURIComponent(challenge)}`);
    if (login.status !== 200) return send(400, escape(login.body.error_description));
    // Signed in here already, and the client did not ask for a new sign-in (prompt=login, max_age):
    // accept at once, as Hydra's apps do when they may skip the form.
    const user = users.find((candidate) => candidate.id === sessionOf(request));
    if (user && login.body.prompt !== 'login' && login.body.max_age === null)
      return redirect(await acceptLogin(challenge, user));
    return send(200, loginPage(challenge));
  }

  if (request.method === 'POST' && url.pathname === '/login') {
    let raw = '';
    for await (const chunk of request) raw += chunk;
    const form = new URLSearchParams(raw);
    const challenge = form.get('login_challenge') ?? '';
    if (form.get('cancel')) {
      const answer = await admin('POST', `/login-requests/${encodeURIComponent(challenge)}/reject`, {
        error: 'access_denied',
        error_description: 'The user cancelled the sign-in.',
      });
      return redirect(answer.body.redirect_to);
    }
    const user = users.find((candidate) => candidate.email === form.get('email'));
    if (!user || !passwordMatches(user, form.get('password') ?? ''))
      return send(401, loginPage(challenge, 'Wrong email or password.', form.get('email') ?? ''));
    const sessionId = randomBytes(32).toString('base64url');
    sessions.set(sessionId, user.id);
    return redirect(
      await acceptLogin(challenge, user),
      `app.sid=${sessionId}; HttpOnly; SameSite=Lax; Path=/`,
    );
  }

  // Signing out here signs the user out of Latchkey too.
  if (request.method === 'POST' && url.pathname === '/logout') {
    const userId = sessionOf(request);
    if (userId) await admin('POST', `/subjects/${encodeURIComponent(userId)}/logout`, {});
    return redirect('/', 'app.sid=; Max-Age=0; Path=/');
  }
  send(404, 'Not found');
}

const server = createServer((request, response) => {
  handle(request, response).catch((error) => {
    console.error(error);
    if (!response.headersSent) response.writeHead(500).end('Something went wrong.');
  });
});
server.listen(Number(process.env.PORT ?? 4001), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
