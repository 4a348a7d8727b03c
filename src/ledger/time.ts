import { PlexusError } from '../errors.js';

/**
 * Times in the ledger are Unix milliseconds as JS numbers. Revisions are whole milliseconds; `created` /
 * `arrived` may carry a microsecond fraction. Go's zero time (0001-01-01T00:00:00Z) is `ZERO_TIME`.
 */
export type Rev = number;
export type Time = number;

/** Go's zero `time.Time` in Unix ms: "no revision" / "unset". */
export const ZERO_TIME = -62135596800000;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/** `.123Z`, `.12Z`, `.1Z` ... for each whole millisecond 1-999 (trailing zeros trimmed, as Go). */
const MS_FRACTION = Array.from({ length: 1000 }, (_, i) => `.${String(i).padStart(3, '0').replace(/0+$/, '')}Z`);

/** Format like Go's encoding/json of a UTC time: RFC 3339, fraction (to µs) with trailing zeros trimmed. */
let lastMs = NaN, lastText = '', lastSec = NaN, lastBase = '';

export function formatTime(ms: Time): string {
  if (ms === lastMs) return lastText; // a transaction's events, its reply and its pushes share one revision
  const t = formatTimeUncached(ms);
  lastMs = ms; lastText = t;
  return t;
}

function formatTimeUncached(ms: Time): string {
  if (!Number.isFinite(ms)) throw new PlexusError('INVALID_TIME', `not a time: ${ms}`);
  let sec = Math.floor(ms / 1000);
  let us = Math.round((ms - sec * 1000) * 1000);
  if (us >= 1_000_000) { sec++; us -= 1_000_000; }
  let base: string;
  if (sec === lastSec) base = lastBase; // successive revisions mostly fall in the same second
  else {
    const d = new Date(sec * 1000);
    if (Number.isNaN(d.getTime())) throw new PlexusError('INVALID_TIME', `time out of range: ${ms}`);
    const y = d.getUTCFullYear();
    if (y < 0 || y > 9999) throw new PlexusError('INVALID_TIME', `time out of range: ${ms}`);
    base = d.toISOString().slice(0, 19);
    lastSec = sec; lastBase = base;
  }
  if (us === 0) return base + 'Z';
  if (us % 1000 === 0) return base + MS_FRACTION[us / 1000]!; // revisions: whole milliseconds
  return `${base}.${String(us).padStart(6, '0').replace(/0+$/, '')}Z`;
}

/** Parse an RFC 3339 time (any offset, any fraction digits; fraction beyond µs is floored). */
export function parseTime(s: string): Time {
  const m = RFC3339.exec(s);
  if (!m) throw new PlexusError('INVALID_TIME', `not an RFC 3339 time: ${JSON.stringify(s.slice(0, 64))}`);
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) throw new PlexusError('INVALID_TIME', `time out of range: ${JSON.stringify(s)}`);
  const dt = new Date(0);
  dt.setUTCFullYear(y, mo - 1, d);
  dt.setUTCHours(h, mi, se, 0);
  if (dt.getUTCDate() !== d) throw new PlexusError('INVALID_TIME', `no such day: ${JSON.stringify(s)}`);
  let ms = dt.getTime();
  const frac = m[7] ?? '';
  if (frac) ms += Number(frac.slice(0, 3).padEnd(3, '0')) + Number(frac.slice(3, 6).padEnd(3, '0')) / 1000;
  const z = m[8]!;
  if (z !== 'Z' && z !== 'z') {
    const sign = z[0] === '-' ? -1 : 1;
    const oh = Number(z.slice(1, 3)), om = Number(z.slice(4, 6));
    if (oh > 23 || om > 59) throw new PlexusError('INVALID_TIME', `bad zone offset: ${JSON.stringify(s)}`);
    ms -= sign * (oh * 60 + om) * 60_000;
  }
  return ms;
}

/** Parse a wire time field: missing / null / zero-time literal all mean ZERO_TIME. */
export function parseTimeField(v: unknown, name: string): Time {
  if (v === undefined || v === null) return ZERO_TIME;
  if (typeof v !== 'string') throw new PlexusError('INVALID_TIME', `${name}: want an RFC 3339 string`);
  return parseTime(v);
}

/** Floor to a whole millisecond (a revision). */
export function floorMs(t: Time): Rev {
  return Math.floor(t);
}

/** Wall clock in Unix ms. */
export function now(): Time {
  return Date.now();
}
