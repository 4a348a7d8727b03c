import { PlexusError } from '../errors.js';
import { LEDGER_MAX_ID_LENGTH } from '../limits.js';

/** One hub message: `<subject>[#<token>]\n<body>`. */
export interface Frame { subject: string; token: string; body?: string }

/**
 * Parse a hub frame (evt.md §6.1): split at the first `\n` (header / body), the header at its first `#`
 * (subject / token). Empty subjects and private `_` subjects throw BAD_REQUEST (the hub closes the
 * connection); a trailing `\n` or `\r\n` after the body is dropped.
 */
export function parseFrame(text: string): Frame {
  const nl = text.indexOf('\n');
  const header = nl < 0 ? text : text.slice(0, nl);
  let body = nl < 0 ? undefined : text.slice(nl + 1);
  const hash = header.indexOf('#');
  const subject = hash < 0 ? header : header.slice(0, hash);
  const token = hash < 0 ? '' : header.slice(hash + 1);
  if (subject === '') throw new PlexusError('BAD_REQUEST', 'frame without subject');
  if (subject.startsWith('_')) throw new PlexusError('FORBIDDEN', `private subject ${subject.slice(0, 32)}`);
  if (subject.length > 64 || /[\s\u0000-\u001f]/.test(subject)) throw new PlexusError('BAD_REQUEST', 'malformed subject');
  if (token.length > LEDGER_MAX_ID_LENGTH) throw new PlexusError('TOO_LARGE', `token longer than ${LEDGER_MAX_ID_LENGTH}`);
  if (body !== undefined) {
    if (body.endsWith('\r\n')) body = body.slice(0, -2);
    else if (body.endsWith('\n')) body = body.slice(0, -1);
  }
  const f: Frame = { subject, token: token.replace(/\r$/, '') };
  if (body !== undefined && body !== '') f.body = body;
  return f;
}

/** Write a frame: subject, `#token` when non-empty, always `\n`, then the body (+ `\n` for pushes, as Go's stream encoder). */
export function formatFrame(subject: string, token: string, body: string, push = false): string {
  return `${subject}${token ? '#' + token : ''}\n${body}${push ? '\n' : ''}`;
}
