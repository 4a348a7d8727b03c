import type { Value } from './value.js';

/**
 * The outcome of HAM for one incoming field (the six cases of go-gun's ConflictResolution):
 * only the `*-update` outcomes change the stored value; `too-future-deferred` must be re-run when due.
 */
export type ConflictResolution =
  | 'never-seen-update'
  | 'too-future-deferred'
  | 'older-historical'
  | 'newer-update'
  | 'same-keep'
  | 'same-update';

/** True when the resolution means: store the incoming value. Uses no name from outside its body (the SQLite commit worker runs its source). */
export function isUpdate(r: ConflictResolution): boolean {
  return r === 'never-seen-update' || r === 'newer-update' || r === 'same-update';
}

/** The JSON text HAM compares on state ties (gun: lexically greater JSON text wins). */
export function valueText(v: Value): string {
  return JSON.stringify(v);
}

/**
 * gun's HAM rule for one field. `existingState` undefined = the field was never seen (state −∞).
 * `machineState` is the receiver's clock: incoming states beyond it are deferred, even for new fields.
 * On a state tie the lexically greater JSON text (UTF-16 code unit order) wins; identical keeps.
 */
export function resolveConflict(
  existing: Value | undefined,
  existingState: number | undefined,
  incoming: Value,
  incomingState: number,
  machineState: number,
): ConflictResolution {
  if (incomingState > machineState) return 'too-future-deferred';
  if (existingState === undefined || existing === undefined) return 'never-seen-update';
  return resolveStored(incomingState, valueText(incoming), existingState, valueText(existing));
}

/**
 * HAM for a field that is stored, over JSON texts: an older state loses, a newer one wins, on a tie the
 * lexically greater text (UTF-16 code unit order) wins and the same text keeps. It uses no name from outside
 * its body: the SQLite commit worker (an eval'd thread that cannot import) runs its source.
 */
export function resolveStored(state: number, json: string, storedState: number, storedJson: string): 'older-historical' | 'newer-update' | 'same-update' | 'same-keep' {
  if (state < storedState) return 'older-historical';
  if (state > storedState) return 'newer-update';
  return json > storedJson ? 'same-update' : 'same-keep';
}

/**
 * A state clock like gun's: a new wall-clock millisecond t gives t; further calls within the same
 * millisecond give t + n/999 (n = 1, 2, ...). Never goes backwards, even if the wall clock does.
 */
export function createStateClock(now: () => number = Date.now): () => number {
  let lastMs = -Infinity, n = 0, last = -Infinity;
  return () => {
    const t = now();
    if (t > lastMs) { lastMs = t; n = 0; } else n++;
    let s = n === 0 ? lastMs : lastMs + n / 999;
    if (s <= last) s = last + 1 / 999;
    last = s;
    return s;
  };
}

/** The process-wide state clock (what `Graph` stamps writes with by default). */
export const state = createStateClock();
