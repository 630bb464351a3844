// The device flow's code page (RFC 8628 §3.3): the person types the code their device shows.
// oidc-provider hands its own form (an xsrf input and a visible, scripted user_code input); a page
// that also adds its own user_code input makes the browser post user_code twice, which the
// library refuses as a duplicate parameter. So the page is one form of ours, carrying the
// library's xsrf token and posting to its endpoint; the library normalises what was typed (any
// case, dash or not, stray spaces: helpers/user_codes.js).
import type { KoaContextWithOIDC } from 'oidc-provider';
import { protocolErrorPage } from '../web/error-pages.js';
import { renderView } from '../web/views.js';

/** oidc-provider's re-render errors carry the code as typed. */
type DeviceInputError = Error & { error?: string; userCode?: string };

/** Wrong and expired codes read the same: the page must not tell a guesser which codes exist. */
export const INVALID_CODE_MESSAGE =
  'That code is not valid or has expired. Check the code on your device and try again.';

export function deviceErrorMessage(error: DeviceInputError): string {
  switch (error.name) {
    case 'NoCodeError':
      return 'Enter the code shown on your device.';
    case 'NotFoundError':
    case 'ExpiredError':
      return INVALID_CODE_MESSAGE;
    case 'AlreadyUsedError':
      return 'That code has already been used. Start again on your device to get a new code.';
    default:
      // A form whose xsrf token no longer matches the browser's session, or a malformed post.
      return 'This page expired. Enter the code again.';
  }
}

/** oidc-provider's userCodeInputSource: the code page, or the page after the person said no. */
export async function renderDeviceInput(ctx: KoaContextWithOIDC, error?: DeviceInputError): Promise<void> {
  ctx.type = 'html';
  if (error?.name === 'AbortedError') {
    // RFC 8628 §3.5: the device is told access_denied; the person sees what happened.
    ctx.body = renderView('error', {
      ...protocolErrorPage({
        error: 'access_denied',
        status: 200,
        requestId: ctx.state.requestId as string | undefined,
      }),
      message: 'The device was not connected, and nothing was shared with it.',
      action: { href: ctx.oidc.urlFor('code_verification'), label: 'Enter another code' },
    });
    return;
  }
  const state = ctx.oidc.session?.state as { secret?: string } | undefined;
  ctx.body = renderView('device-input', {
    title: 'Connect a device',
    action: ctx.oidc.urlFor('code_verification'),
    xsrf: state?.secret,
    userCode: error?.userCode,
    error: error ? deviceErrorMessage(error) : undefined,
  });
}
