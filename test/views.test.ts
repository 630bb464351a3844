// The pug views: each page renders the form contract of DESIGN.md ("Login and consent pages"),
// escapes what clients and users control, and stays within the Content-Security-Policy
// (no scripts, no inline styles, no external assets) and basic accessibility rules.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import pug from 'pug';

const views = fileURLToPath(new URL('../views/', import.meta.url));
const stylesheet = fileURLToPath(new URL('../public/latchkey.css', import.meta.url));

function render(view: string, locals: Record<string, unknown>): string {
  return pug.compileFile(`${views}${view}.pug`, { basedir: views })(locals);
}

const hostile = '<script>alert(1)</script>';
const uid = 'Jm3a9-xYqT_2';
const csrfToken = 'csrf-3f9a1c';

const logoutForm =
  '<form id="op.logoutForm" method="post" action="/session/end/confirm"><input type="hidden" name="xsrf" value="x1"/></form>';
const deviceConfirmForm =
  '<form id="op.deviceConfirmForm" method="post" action="/device"><input type="hidden" name="xsrf" value="x3"/>' +
  '<input type="hidden" name="user_code" value="BCDF-GHJK"/><input type="hidden" name="confirm" value="yes"/></form>';

const account = { email: 'ada@example.com', name: 'Ada Lovelace' };

const consentLocals = {
  title: 'Allow access',
  uid,
  csrfToken,
  client: {
    name: 'Acme Notes',
    clientId: 'acme-notes',
    uri: 'https://notes.acme.test/',
    logoUri: 'https://notes.acme.test/logo.png',
    policyUri: 'https://notes.acme.test/privacy',
    tosUri: 'https://notes.acme.test/terms',
  },
  returnHost: 'app.notes.acme.test',
  account,
  scopes: [
    { name: 'openid', description: 'Confirm who you are' },
    { name: 'email', description: 'See your email address' },
    { name: 'offline_access', description: 'Keep access while you are away' },
  ],
  resources: [
    {
      identifier: 'https://api.acme.test',
      name: 'Acme API',
      scopes: [{ name: 'notes:read', description: 'Read your notes' }],
    },
  ],
  claims: ['email', 'email_verified'],
};

const accountLocals = {
  title: 'Connected apps',
  csrfToken,
  account,
  message: 'Access for Photo Print was revoked.',
  apps: [
    {
      clientId: 'acme-notes',
      clientName: 'Acme Notes',
      scopes: ['openid', 'email'],
      grantedAt: '2025-03-12T10:00:00.000Z',
      grantId: 'grant-1',
    },
  ],
};

/** One realistic rendering of every view, for the checks that hold on every page. */
const pages: Record<string, Record<string, unknown>> = {
  login: {
    title: 'Sign in',
    uid,
    csrfToken,
    client: { name: 'Acme Notes', clientId: 'acme-notes' },
    email: 'ada@example.com',
    error: 'Invalid email or password.',
  },
  consent: consentLocals,
  logout: { title: 'Sign out', formHtml: logoutForm, clientName: 'Acme Notes' },
  'logout-success': { title: 'Signed out', clientName: 'Acme Notes' },
  'device-input': {
    title: 'Connect a device',
    action: '/device',
    xsrf: 'x2',
    error: 'That code is not valid or has expired.',
    userCode: 'bcdf ghjk',
  },
  'device-confirm': {
    title: 'Confirm the device',
    formHtml: deviceConfirmForm,
    clientName: 'Living-room TV',
    userCode: 'BCDF-GHJK',
  },
  'device-success': { title: 'Device connected', clientName: 'Living-room TV' },
  error: {
    title: 'This app cannot take you back',
    heading: 'This app cannot take you back',
    message: 'The app asked to send you back to an address it has not registered.',
    action: { href: 'https://notes.acme.test/', label: 'Back to Acme Notes' },
    error: 'invalid_redirect_uri',
    errorDescription: "redirect_uri did not match any of the client's registered redirect_uris",
    status: 400,
    requestId: 'req-01J9Z6',
  },
  account: accountLocals,
  'account-login': { title: 'Sign in', csrfToken, returnTo: '/account' },
};

/** The opening tags of one element name, e.g. every `<input ...>`. */
function tags(html: string, name: string): string[] {
  return html.match(new RegExp(`<${name}\\b[^>]*>`, 'gi')) ?? [];
}

function attribute(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`, 'i').exec(tag)?.[1];
}

/** The `<form ...>` element whose action is `action`, up to its closing tag. */
function form(html: string, action: string): string {
  const start = html.search(
    new RegExp(`<form\\b[^>]* method="post" action="${action.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`),
  );
  expect(start).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf('</form>', start) + '</form>'.length);
}

/** The text a reader sees inside <main>, tags removed and whitespace collapsed. */
function mainText(html: string): string {
  const main = /<main\b[^>]*>([\s\S]*)<\/main>/.exec(html)?.[1] ?? '';
  return main
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

describe.each(Object.entries(pages))('%s.pug', (view, locals) => {
  const html = render(view, locals);

  it('is a complete English page titled for Latchkey', () => {
    expect(html).toMatch(/^<!DOCTYPE html><html lang="en">/);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain(`<title>${String(locals.title)} · Latchkey</title>`);
    expect(html).toMatch(/<header class="site-header">[\s\S]*Latchkey[\s\S]*<\/header>/);
    expect(html).toMatch(/<footer\b/);
  });

  it('stays within the Content-Security-Policy', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<style/i);
    expect(html).not.toMatch(/\sstyle=/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).not.toMatch(/<(iframe|object|embed|base)\b/i);
    // Images: the client's logo on the consent page only, and only over https (img-src).
    for (const img of tags(html, 'img')) expect(attribute(img, 'src')).toMatch(/^https:\/\//);
    const linked = tags(html, 'link').map((tag) => attribute(tag, 'href'));
    for (const href of linked) expect(href).toMatch(/^(\/assets\/|data:)/);
    expect(tags(html, 'link').filter((tag) => attribute(tag, 'rel') === 'stylesheet')).toEqual([
      '<link rel="stylesheet" href="/assets/latchkey.css">',
    ]);
  });

  it('labels every visible input', () => {
    for (const input of tags(html, 'input')) {
      const type = attribute(input, 'type') ?? 'text';
      if (type === 'hidden' || type === 'submit') continue;
      const id = attribute(input, 'id');
      const labelled = attribute(input, 'aria-label') !== undefined || html.includes(`<label for="${id}">`);
      expect({ input, labelled }).toEqual({ input, labelled: true });
    }
  });

  it('has one h1 and headings that never skip a level', () => {
    const levels = (html.match(/<h[1-6]\b/g) ?? []).map((tag) => Number(tag[2]));
    expect(levels[0]).toBe(1);
    expect(levels.filter((level) => level === 1)).toHaveLength(1);
    levels.forEach((level, i) => {
      if (i > 0) expect(level - levels[i - 1]).toBeLessThanOrEqual(1);
    });
  });

  it('never prints a missing value', () => {
    expect(html).not.toMatch(/undefined|null|\[object Object\]|NaN/);
  });

  it('puts a CSRF token in every form it owns', () => {
    // Forms posting to oidc-provider carry its xsrf token (from formHtml, or the device page's
    // own form); every other form posts _csrf.
    for (const tag of tags(html, 'form')) {
      if (attribute(tag, 'id')?.startsWith('op.')) continue;
      const action = attribute(tag, 'action') as string;
      const body = form(html, action);
      if (action === '/device') expect(body).toContain('<input type="hidden" name="xsrf" value="x2">');
      else expect(body).toContain(`<input type="hidden" name="_csrf" value="${csrfToken}">`);
    }
  });
});

describe('login.pug', () => {
  const html = render('login', pages.login);

  it('posts email and password to the interaction', () => {
    const login = form(html, `/interaction/${uid}/login`);
    expect(login).toMatch(/<input id="email" type="email" name="email" value="ada@example.com"[^>]*>/);
    expect(login).toMatch(/<input[^>]*name="email"[^>]*autocomplete="username"/);
    expect(login).toMatch(/<input[^>]*type="password" name="password" autocomplete="current-password"/);
    expect(login).toContain(`<input type="hidden" name="_csrf" value="${csrfToken}">`);
    expect(login).toMatch(/<button class="button button-primary" type="submit">Sign in<\/button>/);
  });

  it('offers a separate Cancel that aborts the interaction', () => {
    const abort = form(html, `/interaction/${uid}/abort`);
    expect(abort).toContain(`name="_csrf" value="${csrfToken}"`);
    expect(abort).toMatch(/<button[^>]*type="submit">Cancel<\/button>/);
    expect(abort).not.toContain('name="password"');
  });

  it('names the client and announces the error above the form', () => {
    expect(html).toContain('<h1>Sign in</h1>');
    expect(mainText(html)).toContain('to continue to Acme Notes');
    const alert = html.indexOf(
      '<p class="alert alert-error" role="alert" id="form-error">Invalid email or password.</p>',
    );
    expect(alert).toBeGreaterThan(0);
    expect(alert).toBeLessThan(html.indexOf(`action="/interaction/${uid}/login"`));
  });

  it('has no alert when there is no error, and focuses the email field first', () => {
    const fresh = render('login', { ...pages.login, email: undefined, error: undefined });
    expect(fresh).not.toContain('role="alert"');
    expect(fresh).not.toContain('aria-invalid');
    expect(fresh).toMatch(/<input id="email"[^>]* autofocus/);
    expect(fresh).not.toMatch(/<input id="email"[^>]* value=/);
  });

  it('escapes the client name, the email and the error', () => {
    const escaped = render('login', {
      ...pages.login,
      client: { name: hostile, clientId: 'x' },
      email: '"><script>x</script>',
      error: hostile,
    });
    expect(escaped).not.toMatch(/<script/i);
    expect(escaped).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(escaped).toContain('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
  });

  it('keeps an odd uid inside its path segment', () => {
    const odd = render('login', { ...pages.login, uid: '../x"y' });
    expect(odd).toContain('action="/interaction/..%2Fx%22y/login"');
  });
});

describe('consent.pug', () => {
  const html = render('consent', consentLocals);

  it('allows through /confirm and denies through /abort, each with _csrf', () => {
    const allow = form(html, `/interaction/${uid}/confirm`);
    expect(allow).toContain(`<input type="hidden" name="_csrf" value="${csrfToken}">`);
    expect(allow).toMatch(/<button class="button button-primary" type="submit">Allow<\/button>/);
    const deny = form(html, `/interaction/${uid}/abort`);
    expect(deny).toContain(`<input type="hidden" name="_csrf" value="${csrfToken}">`);
    expect(deny).toMatch(/<button[^>]*type="submit">Deny<\/button>/);
  });

  it('says who asks, who is signed in and what will be shared', () => {
    expect(html).toContain('<h1>Acme Notes wants to access your account</h1>');
    const text = mainText(html);
    expect(text).toContain('Signed in as ada@example.com');
    for (const scope of consentLocals.scopes) {
      expect(html).toMatch(new RegExp(`>${scope.description}</span>.*?<code>${scope.name}</code>`));
    }
    expect(text).toContain('Acme API');
    expect(html).toContain('<code>https://api.acme.test</code>');
    expect(html).toMatch(/Read your notes<\/span>.*?<code>notes:read<\/code>/);
    expect(html).toContain('<code>email_verified</code>');
    expect(html).toContain(
      '<a href="https://notes.acme.test/" rel="noopener noreferrer">notes.acme.test</a>',
    );
    expect(html).toContain('<a href="/account">');
    expect(text).toMatch(/revoke access/i);
  });

  it("names an app's user without an email by name, and one without claims not at all", () => {
    const named = mainText(render('consent', { ...consentLocals, account: { name: 'Kay Example' } }));
    expect(named).toContain('Signed in as Kay Example');
    const bare = mainText(render('consent', { ...consentLocals, account: {} }));
    expect(bare).not.toContain('Signed in as');
    for (const [locals, shown] of [
      [{ name: 'Kay Example' }, 'Signed in as Kay Example'],
      [{}, undefined],
    ] as const) {
      const text = mainText(render('account', { ...accountLocals, account: locals }));
      if (shown) expect(text).toContain(shown);
      else expect(text).not.toContain('Signed in as');
    }
  });

  it('escapes every client-controlled value', () => {
    const escaped = render('consent', {
      ...consentLocals,
      client: { name: hostile, clientId: 'x', uri: 'https://x.test/"><script>' },
      account: { email: hostile, name: hostile },
      scopes: [{ name: hostile, description: hostile }],
      resources: [{ identifier: hostile, name: hostile, scopes: [{ name: hostile, description: hostile }] }],
      claims: [hostile],
    });
    expect(escaped).not.toMatch(/<script/i);
    expect(escaped).toContain('<h1>&lt;script&gt;alert(1)&lt;/script&gt; wants to access your account</h1>');
  });

  it("shows the client's logo, the host it returns to, and its policy and terms", () => {
    expect(html).toContain(
      '<img class="client-logo" src="https://notes.acme.test/logo.png" alt="Acme Notes logo" width="56" height="56">',
    );
    expect(html).toContain(
      '<p class="return-note">After you choose, you go back to <strong class="return-host">app.notes.acme.test</strong>.</p>',
    );
    expect(mainText(html)).toContain("Read Acme Notes's privacy policy and terms of service .");
    expect(html).toContain(
      '<a href="https://notes.acme.test/privacy" rel="noopener noreferrer">privacy policy</a>',
    );
    expect(html).toContain(
      '<a href="https://notes.acme.test/terms" rel="noopener noreferrer">terms of service</a>',
    );
    const policyOnly = render('consent', {
      ...consentLocals,
      client: { ...consentLocals.client, tosUri: undefined },
    });
    expect(mainText(policyOnly)).toContain("Read Acme Notes's privacy policy .");
    const bare = render('consent', {
      ...consentLocals,
      client: { name: 'Acme Notes', clientId: 'acme-notes' },
      returnHost: undefined,
    });
    expect(bare).not.toMatch(/<img|client-terms|return-note/);
  });

  it('shows a logo only over https and links policy and terms only for http(s) URLs', () => {
    for (const uri of [
      'javascript:alert(1)',
      'data:image/png;base64,AAAA',
      'http://notes.acme.test/logo.png',
      'not a url',
    ]) {
      const page = render('consent', {
        ...consentLocals,
        client: { ...consentLocals.client, logoUri: uri, policyUri: uri, tosUri: uri },
      });
      expect(page).not.toContain('<img');
      if (uri.startsWith('http:')) continue;
      expect(page).not.toContain('client-terms');
      expect(page).not.toMatch(/(href|src)="(javascript:|data:image\/png)/);
    }
  });

  it('links the client site only for http(s) URLs', () => {
    for (const uri of ['javascript:alert(1)', 'data:text/html,x', 'not a url', undefined]) {
      const page = render('consent', { ...consentLocals, client: { ...consentLocals.client, uri } });
      expect(page).not.toContain('class="client-site"');
      expect(page).not.toMatch(/javascript:|data:text/);
    }
  });

  it('still renders with only the openid basics', () => {
    const minimal = render('consent', { ...consentLocals, scopes: [], resources: [], claims: undefined });
    expect(mainText(minimal)).toContain('Only that you are signed in to Latchkey.');
    expect(minimal).toContain(`action="/interaction/${uid}/confirm"`);
  });
});

describe('logout.pug', () => {
  const html = render('logout', pages.logout);

  it('renders the oidc-provider form raw and targets it from outside', () => {
    expect(html).toContain(logoutForm);
    const formEnd = html.indexOf('</form>');
    const yes =
      '<button class="button button-primary" type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>';
    const no =
      '<button class="button button-secondary" type="submit" form="op.logoutForm">No, stay signed in</button>';
    expect(html.indexOf(yes)).toBeGreaterThan(formEnd);
    expect(html.indexOf(no)).toBeGreaterThan(formEnd);
  });

  it('asks, naming the client when there is one', () => {
    expect(html).toContain('<h1>Sign out?</h1>');
    expect(mainText(html)).toContain(
      'Acme Notes asked to sign you out. Do you want to sign out of Latchkey?',
    );
    const anonymous = render('logout', { title: 'Sign out', formHtml: logoutForm });
    expect(mainText(anonymous)).toContain('Do you want to sign out of Latchkey?');
    const escaped = render('logout', { title: 'Sign out', formHtml: logoutForm, clientName: hostile });
    expect(escaped).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(escaped).not.toMatch(/<script/i);
  });
});

describe('logout-success.pug', () => {
  it('says the user is signed out', () => {
    expect(render('logout-success', pages['logout-success'])).toContain('<h1>You are signed out</h1>');
    const escaped = render('logout-success', { title: 'Signed out', clientName: hostile });
    expect(escaped).toContain('&lt;script&gt;');
    expect(escaped).not.toMatch(/<script/i);
    expect(mainText(render('logout-success', { title: 'Signed out' }))).toContain(
      'You have been signed out.',
    );
  });
});

describe('device-input.pug', () => {
  const html = render('device-input', pages['device-input']);

  it('is one form: the xsrf token and a single labelled user_code input, posted to the device endpoint', () => {
    // oidc-provider's own form (with its own user_code input) must not be on the page: browsers
    // would post user_code twice, which the library refuses.
    expect(html).not.toContain('op.deviceInputForm');
    expect(tags(html, 'form')).toHaveLength(1);
    const body = form(html, '/device');
    expect(body).toContain('<input type="hidden" name="xsrf" value="x2">');
    const inputs = tags(html, 'input').filter((tag) => attribute(tag, 'name') === 'user_code');
    expect(inputs).toHaveLength(1);
    const [input] = inputs as [string];
    expect(body).toContain(input);
    expect(attribute(input, 'id')).toBe('user_code');
    expect(attribute(input, 'form')).toBeUndefined();
    expect(attribute(input, 'autocomplete')).toBe('off');
    expect(attribute(input, 'autocapitalize')).toBe('characters');
    expect(attribute(input, 'spellcheck')).toBe('false');
    expect(input).toMatch(/\srequired[\s>]/);
    expect(html).toContain('<label for="user_code">');
    expect(body).toContain('<button class="button button-primary" type="submit">Continue</button>');
    expect(html).toContain('<h1>Connect a device</h1>');
    expect(mainText(html)).toContain('Enter the code shown on your device.');
  });

  it('keeps the code as typed and announces the error', () => {
    const [input] = tags(html, 'input').filter((tag) => attribute(tag, 'name') === 'user_code') as [string];
    expect(attribute(input, 'value')).toBe('bcdf ghjk');
    expect(attribute(input, 'aria-invalid')).toBe('true');
    expect(html).toContain('role="alert" id="form-error">That code is not valid or has expired.</p>');
  });

  it('escapes the code and the error, and leaves the value empty when there is none', () => {
    const escaped = render('device-input', {
      title: 'x',
      action: '/device',
      xsrf: 'x2',
      userCode: '"><script>',
      error: hostile,
    });
    expect(escaped).not.toMatch(/<script/i);
    const empty = render('device-input', { title: 'x', action: '/device', xsrf: 'x2' });
    expect(empty).not.toContain('role="alert"');
    expect(tags(empty, 'input').find((tag) => tag.includes('user_code'))).not.toContain('value=');
  });
});

describe('device-confirm.pug', () => {
  const html = render('device-confirm', pages['device-confirm']);

  it('shows the code and submits the raw oidc-provider form to continue or cancel', () => {
    expect(html).toContain(deviceConfirmForm);
    expect(html).toContain('<h1>Confirm the device</h1>');
    expect(mainText(html)).toContain(
      'Living-room TV is asking to connect. Check that the code below matches the one on your device:',
    );
    expect(html).toContain('<p class="user-code"><code>BCDF-GHJK</code></p>');
    expect(html).toContain(
      '<button class="button button-primary" type="submit" form="op.deviceConfirmForm">Continue</button>',
    );
    expect(html).toContain(
      '<button class="button button-secondary" type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button>',
    );
  });

  it('escapes the client name and the code', () => {
    const escaped = render('device-confirm', {
      title: 'x',
      formHtml: deviceConfirmForm,
      clientName: hostile,
      userCode: hostile,
    });
    expect(escaped).not.toMatch(/<script/i);
    expect(escaped).toContain('<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>');
  });
});

describe('device-success.pug', () => {
  it('tells the user to return to the device', () => {
    const text = mainText(render('device-success', pages['device-success']));
    expect(text).toContain('Device connected');
    expect(text).toContain('You can return to your device.');
    expect(mainText(render('device-success', { title: 'x' }))).toBe(
      'Device connected You can return to your device.',
    );
  });
});

describe('error.pug', () => {
  it('says what happened and how to go on, with the code, description and reference small below', () => {
    const html = render('error', {
      ...pages.error,
      stack: 'Error: boom\n    at secret (/srv/latchkey/src/secret.ts:1:1)',
      error_description: 'snake-case leak',
      ctx: { secret: 'cookie-secret' },
    });
    expect(mainText(html)).toBe(
      "This app cannot take you back The app asked to send you back to an address it has not registered. Back to Acme Notes Error invalid_redirect_uri (400) redirect_uri did not match any of the client's registered redirect_uris Reference: req-01J9Z6",
    );
    expect(html).toContain('<h1>This app cannot take you back</h1>');
    expect(html).toContain(
      '<a class="button button-primary" href="https://notes.acme.test/">Back to Acme Notes</a>',
    );
    expect(html).toMatch(
      /<div class="error-support">[\s\S]*<small class="error-code"><code>invalid_redirect_uri<\/code><\/small>/,
    );
    expect(html).not.toMatch(/boom|secret\.ts|cookie-secret|snake-case leak/);
  });

  it("reads an older caller's code and description as before", () => {
    const html = render('error', {
      title: 'Error',
      error: 'invalid_request',
      errorDescription: 'The connect link has expired.',
      status: 400,
    });
    expect(mainText(html)).toBe(
      'Something went wrong The connect link has expired. Error invalid_request (400)',
    );
  });

  it('leaves out what it is not given', () => {
    const html = render('error', { title: 'Error', error: 'server_error', status: 500 });
    expect(mainText(html)).toBe('Something went wrong Error server_error (500)');
    expect(html).not.toContain('<a ');
  });

  it('escapes the heading, message, link, code, description and reference', () => {
    const html = render('error', {
      title: 'Error',
      heading: hostile,
      message: hostile,
      action: { href: '/x"><script>', label: hostile },
      error: hostile,
      errorDescription: hostile,
      status: 400,
      requestId: hostile,
    });
    expect(html).not.toMatch(/<script/i);
    expect(html.split('&lt;script&gt;alert(1)&lt;/script&gt;').length).toBeGreaterThanOrEqual(6);
  });
});

describe('account.pug', () => {
  const html = render('account', accountLocals);

  it('lists each app with its scopes, grant date and a revoke form', () => {
    expect(html).toContain('<h1>Connected apps</h1>');
    expect(mainText(html)).toContain('Signed in as ada@example.com');
    expect(html).toContain('<h2 class="app-name">Acme Notes</h2>');
    expect(html).toContain('<code>openid</code>');
    expect(html).toContain('<code>email</code>');
    expect(html).toContain('<time datetime="2025-03-12T10:00:00.000Z">Mar 12, 2025</time>');
    const revoke = form(html, '/account/apps/acme-notes/revoke');
    expect(revoke).toContain(`<input type="hidden" name="_csrf" value="${csrfToken}">`);
    expect(revoke.replace(/<[^>]+>/g, '')).toBe('Revoke access from Acme Notes');
    expect(revoke).toContain('<span class="visually-hidden"> from Acme Notes</span>');
  });

  it('signs out through a POST form with the form token, and announces the message', () => {
    const signOut = form(html, '/account/logout');
    expect(signOut).toContain(`<input type="hidden" name="_csrf" value="${csrfToken}">`);
    expect(signOut).toContain('<button class="button-link" type="submit">Sign out</button>');
    expect(html).not.toContain('href="/account/logout"');
    expect(html).toContain(
      '<p class="alert alert-success" role="status">Access for Photo Print was revoked.</p>',
    );
  });

  it('has an empty state and no banner when there is nothing to show', () => {
    const empty = render('account', { ...accountLocals, apps: [], message: undefined });
    expect(mainText(empty)).toContain('You have not granted access to any app.');
    expect(empty).not.toContain('role="status"');
    expect(tags(empty, 'form').map((tag) => attribute(tag, 'action'))).toEqual(['/account/logout']);
  });

  it('escapes app names, scopes, ids and the message', () => {
    const escaped = render('account', {
      ...accountLocals,
      account: { email: hostile, name: hostile },
      message: hostile,
      apps: [{ clientId: 'a/"b', clientName: hostile, scopes: [hostile], grantedAt: hostile, grantId: 'g' }],
    });
    expect(escaped).not.toMatch(/<script/i);
    expect(escaped).toContain('action="/account/apps/a%2F%22b/revoke"');
    expect(escaped).toContain('<h2 class="app-name">&lt;script&gt;alert(1)&lt;/script&gt;</h2>');
  });
});

describe('account-login.pug', () => {
  const html = render('account-login', pages['account-login']);

  it('posts email, password, _csrf and return_to to /account/login', () => {
    const login = form(html, '/account/login');
    expect(login).toContain(`<input type="hidden" name="_csrf" value="${csrfToken}">`);
    expect(login).toContain('<input type="hidden" name="return_to" value="/account">');
    expect(login).toMatch(/<input[^>]*type="email" name="email"[^>]*autocomplete="username"/);
    expect(login).toMatch(/<input[^>]*type="password" name="password" autocomplete="current-password"/);
  });

  it('announces an error and keeps the email, escaped', () => {
    const failed = render('account-login', { title: 'Sign in', csrfToken, email: '"x<y', error: hostile });
    expect(failed).toContain('role="alert" id="form-error">&lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(failed).toContain('value="&quot;x&lt;y"');
    expect(failed).not.toContain('name="return_to"');
  });
});

describe('branding (the brand view global)', () => {
  const brand = {
    name: 'Acme ID',
    logo: { src: '/assets/logo.svg?v=abc' },
    supportUrl: 'https://help.acme.test/',
    stylesheet: '/assets/latchkey.css?v=def',
    custom: true,
  };

  it.each(Object.entries(pages))(
    '%s.pug names the operator, shows its logo and support link',
    (view, locals) => {
      const html = render(view, { ...locals, brand });
      expect(html).toContain(`<title>${String(locals.title)} · Acme ID</title>`);
      expect(html).toMatch(
        /<header class="site-header"><div class="brand"><img class="brand-logo" src="\/assets\/logo.svg\?v=abc" alt="" height="32"><span class="brand-name">Acme ID<\/span><\/div><\/header>/,
      );
      expect(html).toContain('<link rel="stylesheet" href="/assets/latchkey.css?v=def">');
      expect(html).toContain('<a href="https://help.acme.test/" rel="noopener">Help and support</a>');
      expect(html).not.toMatch(/Latchkey/);
    },
  );

  it("keeps Latchkey's mark and footer without it", () => {
    const html = render('login', pages.login);
    expect(html).toContain('<svg class="brand-mark"');
    expect(html).toContain('<span class="brand-name">Latchkey</span>');
    expect(html).toContain('<p>Secured by Latchkey</p>');
    expect(html).not.toContain('<img');
  });

  it("escapes the operator's name and URLs", () => {
    const html = render('consent', {
      ...consentLocals,
      scopes: [],
      resources: [],
      claims: undefined,
      brand: { ...brand, name: hostile, supportUrl: 'https://x.test/"><script>' },
    });
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('Only that you are signed in to &lt;script&gt;alert(1)&lt;/script&gt;.');
  });
});

describe('latchkey.css', () => {
  const css = readFileSync(stylesheet, 'utf8');

  it('loads nothing from elsewhere and styles focus and dark mode', () => {
    expect(css).not.toMatch(/@import|url\(/i);
    expect(css).toContain(':focus-visible');
    expect(css).toContain('prefers-color-scheme: dark');
  });
});
