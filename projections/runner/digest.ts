import { createHash } from "node:crypto";
import type { Database } from "better-sqlite3";
import { openProjectionDatabase, readCheckpoint } from "./sqlite.js";

/** The content digest of a projection file at the sequence it had applied. */
export interface ProjectionDigest {
  /** Hex SHA-256 over every table's rows in primary-key order (see {@link projectionDigest}). */
  readonly digest: string;
  /** The checkpoint the rows reflect (read in the same snapshot). */
  readonly seq: number;
  readonly version: number | undefined;
  /** Rows per table, for a reader of a mismatch. */
  readonly rows: Readonly<Record<string, number>>;
}

/** Tables that describe the file rather than the read model. */
const EXCLUDED = new Set(["checkpoint"]);

interface ColumnInfo {
  readonly name: string;
  readonly pk: number;
}

const quote = (identifier: string): string => `"${identifier.replaceAll('"', '""')}"`;

/**
 * A stable hash of a projection's content: two files that applied the same log prefix with the same
 * code hash the same, whatever their batch boundaries, page layout, vacuum state or generation.
 * Tables in name order (the checkpoint table and SQLite's own excluded), rows in primary-key order
 * (every column when a table has none), each row hashed as its table name and column values with
 * type tags, so `1` and `"1"` or NULL and `""` differ. Read in one transaction: rows and checkpoint
 * come from the same snapshot, even while a runner writes the file.
 *
 * Rows removed by time-based cleanup (expired tokens, retention) are content too: compare copies
 * that ran the same cleanups, or none (a rebuilt copy against its source right after the switch).
 */
export function projectionDigest(db: Database, projectionName: string): ProjectionDigest {
  return db.transaction((): ProjectionDigest => {
    const hash = createHash("sha256");
    const counts: Record<string, number> = {};
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .all()
      .map((t) => t.name)
      .filter((name) => !EXCLUDED.has(name));
    for (const table of tables) {
      const columns = db.prepare<[], ColumnInfo>(`PRAGMA table_info(${quote(table)})`).all();
      const keys = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
      const order = (keys.length > 0 ? keys : columns).map((c) => quote(c.name)).join(", ");
      const names = columns.map((c) => quote(c.name)).join(", ");
      hash.update(`table\u0000${table}\u0000${columns.map((c) => c.name).join(",")}\u0000`);
      let n = 0;
      for (const row of db.prepare(`SELECT ${names} FROM ${quote(table)} ORDER BY ${order}`).raw(true).iterate() as IterableIterator<unknown[]>) {
        hash.update(encodeRow(row));
        n += 1;
      }
      counts[table] = n;
    }
    const checkpoint = readCheckpoint(db, projectionName);
    return { digest: hash.digest("hex"), seq: checkpoint?.seq ?? 0, version: checkpoint?.version, rows: counts };
  })();
}

/** One row as bytes: each value type-tagged and length-prefixed, so no two rows encode alike. */
function encodeRow(row: readonly unknown[]): string {
  let out = "r";
  for (const value of row) {
    if (value === null) out += "n;";
    else if (typeof value === "number" || typeof value === "bigint") out += `i${String(value)};`;
    else if (typeof value === "string") out += `s${value.length}:${value};`;
    else if (Buffer.isBuffer(value)) out += `b${value.toString("hex")};`;
    else out += `?${JSON.stringify(value)};`;
  }
  return `${out}\n`;
}

/** {@link projectionDigest} of the projection file at `file`, opened read-only for the purpose. */
export function projectionFileDigest(file: string, projectionName: string): ProjectionDigest {
  const db = openProjectionDatabase(file, { readonly: true });
  try {
    return projectionDigest(db, projectionName);
  } finally {
    db.close();
  }
}
