/**
 * The HTML a person sees: one small, styled template for every refusal, and the email form of
 * home-realm discovery. Everything that comes from a request is escaped here, in one place.
 */
import type { Problem, RefusalReason } from './core/errors';

export const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE =
  ':root{color-scheme:light dark;--fg:#1d2330;--muted:#5b6477;--bg:#f5f6f8;--card:#fff;--accent:#3556d8;--line:#dde1e8}' +
  '@media (prefers-color-scheme:dark){:root{--fg:#e6e9ef;--muted:#9aa3b5;--bg:#14171d;--card:#1d2129;--accent:#7c95ff;--line:#2d333d}}' +
  'body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}' +
  'main{max-width:34rem;margin:8vh auto;padding:2rem 2.2rem;background:var(--card);border:1px solid var(--line);border-radius:12px}' +
  'h1{font-size:1.35rem;margin:0 0 .6rem}p{margin:.5rem 0}.actions{margin:1.4rem 0 1rem;display:flex;gap:.8rem;flex-wrap:wrap}' +
  '.button{display:inline-block;padding:.55rem 1.1rem;border-radius:8px;background:var(--accent);color:#fff;text-decoration:none;border:0;font:inherit;cursor:pointer}' +
  '.button.secondary{background:transparent;color:var(--accent);border:1px solid var(--line)}' +
  'input[type=email]{width:100%;box-sizing:border-box;padding:.55rem .7rem;border:1px solid var(--line);border-radius:8px;font:inherit;background:var(--card);color:var(--fg)}' +
  '.ref{margin-top:1.4rem;padding-top:1rem;border-top:1px solid var(--line);color:var(--muted);font-size:.85rem}.ref code{font-size:.85rem}';

/**
 * A whole page in the house style; `body` must already be escaped HTML. `extra` adds styles, and
 * a script that runs only under the page's CSP nonce.
 */
export function page(title: string, body: string, extra: { readonly style?: string; readonly script?: { readonly nonce: string; readonly code: string } } = {}): string {
  const script = extra.script ? `<script nonce="${escapeHtml(extra.script.nonce)}">${extra.script.code}</script>` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}${extra.style ?? ''}</style></head><body><main>${body}</main>${script}</body></html>`;
}

interface Words {
  /** What happened, for the person. */
  readonly headline: string;
  /** What it means, or what to do. */
  readonly explanation: string;
  /** Whether starting the same login again may work (otherwise only an admin can change the outcome). */
  readonly retry?: boolean;
  /** The login itself is gone: no link back into it. */
  readonly dead?: boolean;
}

const ASK_ADMIN = 'Your administrator can fix this; quote the reference below.';

/** What each refusal means to the person who met it, in their words. */
const WORDS: Readonly<Record<string, Words>> = {
  invalid_request: { headline: 'Something was wrong with this sign-in request', explanation: 'The request was incomplete or garbled, often from an old bookmark or an interrupted page. Start again from the beginning.', retry: true },
  payload_too_large: { headline: 'Your identity provider sent too much', explanation: `The sign-in response was larger than we accept. ${ASK_ADMIN}` },
  not_found: { headline: 'There is nothing at this address', explanation: 'The link may be mistyped or out of date.' },
  unknown_connection: { headline: 'This sign-in link no longer works', explanation: `The sign-in method it points to does not exist or has been turned off. ${ASK_ADMIN}`, dead: true },
  unknown_domain: { headline: 'We could not find where you sign in', explanation: 'No organization signs in here with that email domain. Check the address for typos, or ask your administrator for your company\u2019s sign-in link.', retry: true },
  domain_in_use: { headline: 'This email domain belongs to another organization', explanation: ASK_ADMIN },
  saml_invalid_signature: { headline: 'We could not verify your identity provider\u2019s answer', explanation: `Its signature did not check out, so we did not sign you in. ${ASK_ADMIN}` },
  saml_expired: { headline: 'The sign-in took too long', explanation: 'Your identity provider\u2019s answer expired before it reached us (or the clocks disagree). Start again.', retry: true },
  saml_not_yet_valid: { headline: 'The sign-in arrived too early', explanation: 'Your identity provider\u2019s clock seems to be ahead of ours. Start again; if it keeps happening, tell your administrator.', retry: true },
  saml_audience_mismatch: { headline: 'This sign-in was meant for another application', explanation: `Your identity provider addressed its answer to a different service. ${ASK_ADMIN}` },
  saml_recipient_mismatch: { headline: 'This sign-in was sent to the wrong address', explanation: `Your identity provider posted its answer to another address than this one. ${ASK_ADMIN}` },
  saml_issuer_mismatch: { headline: 'This sign-in came from an unexpected identity provider', explanation: ASK_ADMIN },
  saml_unsolicited: { headline: 'Please start signing in from the application', explanation: 'This application accepts only sign-ins that start here, not from an app tile of your identity provider.', retry: true },
  saml_in_response_to_mismatch: { headline: 'This sign-in was already used or has expired', explanation: 'It may have been used in another tab, or taken too long. Start again.', retry: true },
  saml_replay: { headline: 'This sign-in was already used', explanation: 'Each sign-in works once. Start again for a new one.', retry: true },
  saml_status_not_success: { headline: 'Your identity provider did not sign you in', explanation: `It answered that the sign-in did not succeed. Try again, or ask your administrator.`, retry: true },
  oidc_state_mismatch: { headline: 'This sign-in link has expired or was used already', explanation: 'It may have been started in another browser or tab, or taken more than ten minutes. Start again.', retry: true },
  oidc_invalid_id_token: { headline: 'We could not verify your identity provider\u2019s answer', explanation: `The identity token it sent did not pass our checks, so we did not sign you in. ${ASK_ADMIN}` },
  oidc_nonce_mismatch: { headline: 'This sign-in does not belong to this browser session', explanation: 'Start again from the beginning.', retry: true },
  oidc_idp_error: { headline: 'Your identity provider did not sign you in', explanation: 'It answered with an error. Try again, or ask your administrator.', retry: true },
  saml_transient_subject: { headline: 'Your identity provider did not say who you are in a lasting way', explanation: `It sent only a one-time identifier, which cannot be matched to an account. ${ASK_ADMIN}` },
  missing_required_attribute: { headline: 'Your identity provider left out something we need', explanation: `Your account there lacks information this application requires (named below). ${ASK_ADMIN}` },
  email_not_verified: { headline: 'Your email address is not verified', explanation: 'Your identity provider does not vouch for this email address. Verify it there, or ask your administrator.' },
  domain_not_allowed: { headline: 'This email address may not sign in here', explanation: 'Your organization allows only its own email domains through this sign-in method. Use your work account, or ask your administrator.' },
  email_in_use: {
    headline: 'Another sign-in method already owns this email address',
    explanation:
      'An account with this email was created through a different sign-in method, and we never join two accounts on an email alone. Sign in the way you did before. ' +
      'An administrator can allow this sign-in method to join existing accounts by setting linkByEmail together with allowedEmailDomains on its connection, for an identity provider that vouches for its users\u2019 emails.',
  },
  seat_limit_reached: { headline: 'Your organization has no seats left', explanation: 'Every seat of your organization\u2019s plan is taken. Ask your administrator to free one or add more.' },
  user_not_provisioned: { headline: 'Your account has not been set up yet', explanation: 'This application only lets in people their administrator has added. Ask your administrator to add you.' },
  user_deactivated: { headline: 'Your account has been deactivated', explanation: 'Your administrator turned off your access to this application. Ask them if you think this is a mistake.' },
  forbidden_return_to: { headline: 'We will not send you to that address', explanation: 'The sign-in link asks to return to an address this application does not allow. Start from the application itself.' },
  setup_link_unknown: { headline: 'This setup link does not exist', explanation: 'Check that you copied the whole link, or ask the application\u2019s team for a new one.', dead: true },
  setup_link_expired: { headline: 'This setup link has expired', explanation: 'Setup links work for a limited time. Ask the application\u2019s team for a new one.', dead: true },
  setup_link_revoked: { headline: 'This setup link has been revoked', explanation: 'The application\u2019s team turned it off. Ask them for a new one.', dead: true },
  setup_link_forbidden: { headline: 'This setup link cannot change that', explanation: 'A setup link configures only its own organization\u2019s sign-in. Ask the application\u2019s team for the right link.' },
  setup_not_tested: { headline: 'Test the connection first', explanation: 'Sign in once through your identity provider with \u201cTest the connection\u201d; activate it once the test passes.', retry: true },
  csrf_mismatch: { headline: 'This form has expired', explanation: 'Reload the setup page and send the form again.', retry: true },
  unauthenticated: { headline: 'You are not signed in', explanation: 'Sign in to continue.', retry: true },
  session_revoked: { headline: 'Your session has ended', explanation: 'You were signed out, or your administrator ended your session. Sign in again.', retry: true },
  service_unavailable: { headline: 'Something we depend on is not answering', explanation: 'Nothing was changed. Wait a moment and try again.', retry: true },
  internal_error: { headline: 'Something went wrong on our side', explanation: 'Nothing you did caused this. Try again; if it keeps happening, tell your administrator.', retry: true },
};

const CANCELLED: Words = {
  headline: 'You cancelled the sign-in',
  explanation: 'You chose not to sign in at your identity provider, so you are not signed in. Start again whenever you are ready.',
  retry: true,
};

/** Where the person can go from an error page. */
export interface PageLinks {
  /** The login that failed, to start it again. */
  readonly startAgain?: string;
  /** The application (the front end the sessions are for). */
  readonly app?: string;
}

/**
 * The page of a refusal: what happened in a person's words, what to do next, and the code,
 * request id and time to quote to an administrator.
 */
export function errorPage(problem: Problem, context: { reason?: RefusalReason; requestId?: string; at: Date; links: PageLinks }): string {
  const words = context.reason === 'cancelled' ? CANCELLED : (WORDS[problem.code] ?? { headline: problem.title, explanation: ASK_ADMIN });
  const { startAgain, app } = context.links;
  const actions = [
    startAgain && !words.dead ? `<a class="button" href="${escapeHtml(startAgain)}">${words.retry ? 'Start again' : 'Try signing in again'}</a>` : '',
    app ? `<a class="button${startAgain && !words.dead ? ' secondary' : ''}" href="${escapeHtml(app)}">Back to the app</a>` : '',
  ].join('');
  const detail = problem.detail && context.reason !== 'cancelled' ? `<p>${escapeHtml(problem.detail)}</p>` : '';
  return page(
    words.headline,
    `<h1>${escapeHtml(words.headline)}</h1><p>${escapeHtml(words.explanation)}</p>${detail}` +
      (actions ? `<div class="actions">${actions}</div>` : '') +
      `<div class="ref">To quote to your administrator: code <span data-field="code"><code>${escapeHtml(problem.code)}</code></span>` +
      (context.requestId ? `, request <span data-field="request-id"><code>${escapeHtml(context.requestId)}</code></span>` : '') +
      `, at <span data-field="time"><code>${escapeHtml(context.at.toISOString())}</code></span></div>`,
  );
}

/** The one-field form of home-realm discovery: `GET /login?email=`. */
export function emailPage(returnTo: string | undefined): string {
  return page(
    'Sign in',
    `<h1>Sign in</h1><p>Enter your work email and we will send you to your organization\u2019s sign-in page.</p>` +
      `<form method="get" action="/login"><p><label for="email">Work email</label></p><input type="email" id="email" name="email" autocomplete="email" required autofocus>` +
      (returnTo ? `<input type="hidden" name="return_to" value="${escapeHtml(returnTo)}">` : '') +
      `<div class="actions"><button class="button" type="submit">Continue</button></div></form>`,
  );
}
