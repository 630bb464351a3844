// Cursor pagination over a list: items in creation order (id breaking ties), and an opaque cursor
// naming the last item of a page, so that items added or removed meanwhile shift no page.
import { HttpError } from '../web/errors.js';

export interface PageRequest {
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** Where an item sorts: when it was made (epoch ms), then its id. */
export type SortKey = readonly [createdAt: number, id: string];

export const DEFAULT_PAGE_SIZE = 50;

function compareKeys(a: SortKey, b: SortKey): number {
  return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
}

function encodeCursor(key: SortKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string): SortKey {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key) && key.length === 2 && Number.isFinite(key[0]) && typeof key[1] === 'string')
      return [key[0] as number, key[1]];
  } catch {
    // Falls through to the error below.
  }
  throw new HttpError(400, 'invalid_request', 'query.cursor: not a next_cursor this API gave');
}

export function paginate<T>(
  items: readonly T[],
  sortKey: (item: T) => SortKey,
  request: PageRequest,
): Page<T> {
  const limit = request.limit ?? DEFAULT_PAGE_SIZE;
  const after = request.cursor === undefined ? undefined : decodeCursor(request.cursor);
  const sorted = items
    .map((item) => ({ item, key: sortKey(item) }))
    .sort((a, b) => compareKeys(a.key, b.key))
    .filter((entry) => after === undefined || compareKeys(entry.key, after) > 0);
  const page = sorted.slice(0, limit);
  const more = sorted.length > limit;
  return {
    data: page.map((entry) => entry.item),
    next_cursor: more ? encodeCursor(page[page.length - 1]!.key) : null,
  };
}
