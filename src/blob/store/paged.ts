import { parseRef, refFromBytes, refToBytes, type Ref } from '../ref.js';

/**
 * The refs after `after` in ascending order, read `size` at a time: `page(cursor, size)` answers the
 * stored refs greater than `cursor` (32-byte keys), in order, at most `size` of them (a SQL table's
 * `WHERE ref > ? ORDER BY ref LIMIT ?`).
 */
export async function* pagedRefs(after: Ref, size: number, page: (cursor: Buffer, size: number) => Promise<{ ref: Buffer }[]> | { ref: Buffer }[]): AsyncIterable<Ref> {
  let cursor = refToBytes(parseRef(after));
  for (;;) {
    const rows = await page(cursor, size);
    for (const r of rows) yield refFromBytes(r.ref);
    if (rows.length < size) return;
    cursor = rows[rows.length - 1]!.ref;
  }
}
