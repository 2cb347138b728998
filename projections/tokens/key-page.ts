import type { Database, Statement } from "better-sqlite3";

/** A primary key a sweep walks: a text id, or a token hash's bytes. */
export type SweepKey = string | Buffer;

/**
 * The statement behind every keyset sweep of the tokens read model (revoked-row retention, expiry
 * cleanup): the last key and the number of keys among the next `limit` after a cursor. A batch then
 * works on the key range (cursor, last], so none touches more than `limit` rows or scans a table.
 * `table` and `key` are this module's own identifiers, never input.
 */
export const keyPage = (db: Database, table: string, key: string): Statement<[SweepKey, number], { last: SweepKey | null; n: number }> =>
  db.prepare(`SELECT max(${key}) AS last, count(*) AS n FROM (SELECT ${key} FROM ${table} WHERE ${key} > ? ORDER BY ${key} LIMIT ?)`);
