import { PlexusError } from '../../errors.js';
import type { AnchorEntry } from '../anchor.js';
import { isRef } from '../ref.js';

/** Anchor histories are stored as compact JSON: [[atMs, "ref"], ...], oldest first. */
export function encodeHistory(history: readonly AnchorEntry[]): string {
  return JSON.stringify(history.map((e) => [e.at, e.ref]));
}

/** Parse a stored history; corrupt data is an INTERNAL error (never silently dropped). */
export function decodeHistory(text: string | unknown): AnchorEntry[] {
  const v: unknown = typeof text === 'string' ? JSON.parse(text) : text;
  if (!Array.isArray(v)) throw new PlexusError('INTERNAL', 'stored anchor history is corrupt');
  return v.map((e: unknown) => {
    if (!Array.isArray(e) || typeof e[0] !== 'number' || !isRef(e[1])) throw new PlexusError('INTERNAL', 'stored anchor entry is corrupt');
    return { at: e[0], ref: e[1] };
  });
}
