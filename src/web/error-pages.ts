// Error pages in plain words (views/error.pug): what went wrong and how to go on, for each error a
// person can meet in a browser, with the OAuth error code, its technical description and the
// request id kept small below, for support. Protocol errors come from oidc-provider, whose
// descriptions are written for developers; Latchkey's own page errors (HttpError) are already
// worded for people.
import { currentViewGlobals } from './views.js';

export interface PageLink {
  href: string;
  label: string;
}

/** The locals of views/error.pug. */
export interface ErrorPageLocals {
  title: string;
  heading: string;
  message: string;
  action?: PageLink | undefined;
  /** The OAuth error code. */
  error: string;
  /** The technical description (shown small), when it says more than the message. */
  errorDescription?: string | undefined;
  status: number;
  requestId?: string | undefined;
}

/** The client an error happened for, as far as it is known. */
export interface ErrorClient {
  name?: string | undefined;
  uri?: string | undefined;
}

/** A link back to the client's site, if it registered an http(s) one (never a javascript: URL). */
function backToClient(client: ErrorClient | undefined): PageLink | undefined {
  if (!client?.uri) return undefined;
  try {
    const url = new URL(client.uri);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    return { href: url.href, label: `Back to ${client.name ?? url.host}` };
  } catch {
    return undefined;
  }
}

const DEVICE_PAGE: PageLink = { href: '/device', label: 'Enter a new code' };

/** Wording by the condition a person is in, whichever layer raised it. */
function wording(kind: string, brand: string): { heading: string; message: string } | undefined {
  switch (kind) {
    case 'invalid_client':
      return {
        heading: 'This app is not recognised',
        message: `The app that sent you here is not registered with ${brand}, or it has been removed. Go back to the app and try again; if this keeps happening, let the app's developer know.`,
      };
    case 'invalid_redirect_uri':
      return {
        heading: 'This app cannot take you back',
        message: `The app asked ${brand} to send you back to an address it has not registered, so you are not sent there. Let the app's developer know.`,
      };
    case 'expired_interaction':
      return {
        heading: 'This sign-in has expired',
        message:
          'It took too long, or it was opened in another browser or tab. Go back to the app and sign in again.',
      };
    case 'access_denied':
      return {
        heading: 'Access not allowed',
        message: 'You chose not to allow access, so nothing was shared with the app.',
      };
    case 'expired_token':
      return {
        heading: 'This code has expired',
        message: 'Start again on your device to get a new code.',
      };
    case 'login_required':
    case 'consent_required':
    case 'interaction_required':
      return {
        heading: 'You need to sign in',
        message: 'Go back to the app and sign in again.',
      };
    case 'server_error':
    case 'temporarily_unavailable':
      return {
        heading: 'Something went wrong on our side',
        message:
          'Try again in a moment. If it keeps happening, contact support and give them the reference below.',
      };
    default:
      return undefined;
  }
}

/**
 * An oidc-provider error (its renderError hook): `name` is the error's class (SessionNotFound is an
 * interaction whose cookie or record is gone), `client` the client when the request named a known one.
 */
export function protocolErrorPage(input: {
  error: string;
  errorDescription?: string | undefined;
  name?: string | undefined;
  status: number;
  requestId?: string | undefined;
  client?: ErrorClient | undefined;
}): ErrorPageLocals {
  const brand = currentViewGlobals().brand.name;
  const kind = input.name === 'SessionNotFound' ? 'expired_interaction' : input.error;
  const words = wording(kind, brand) ?? {
    heading: 'This sign-in request cannot be completed',
    message: `The app that sent you here asked for something ${brand} cannot give it. Go back to the app and try again; if this keeps happening, let the app's developer know.`,
  };
  const action =
    kind === 'expired_token'
      ? DEVICE_PAGE
      : kind === 'invalid_client'
        ? undefined
        : backToClient(input.client);
  return {
    title: words.heading,
    ...words,
    action,
    error: input.error,
    errorDescription: input.errorDescription,
    status: input.status,
    requestId: input.requestId,
  };
}

/** One of Latchkey's own page errors: its description is the message, already in plain words. */
export function pageErrorPage(input: {
  error: string;
  errorDescription: string;
  status: number;
  requestId?: string | undefined;
  heading?: string | undefined;
  action?: PageLink | undefined;
}): ErrorPageLocals {
  const brand = currentViewGlobals().brand.name;
  const heading =
    input.heading ??
    wording(input.error, brand)?.heading ??
    (input.status === 403
      ? 'This page has expired'
      : input.status === 404
        ? 'Not found'
        : 'This request cannot be completed');
  return {
    title: heading,
    heading,
    message: input.errorDescription,
    action: input.action,
    error: input.error,
    status: input.status,
    requestId: input.requestId,
  };
}
