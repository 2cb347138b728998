import type { Database } from "better-sqlite3";

/** How many token rows the read model holds, by why they are (in)active. */
export interface TokenCounts {
  readonly active: number;
  /** Past `expires_at`, waiting for batch cleanup. */
  readonly expired: number;
  /** The token or its family revoked (RevokeToken, refresh rotation, reuse detected). */
  readonly revoked: number;
  /** Inactive through a cascade: grant revoked or expired, subject watermark, client suspended/deleted or its tokens revoked. */
  readonly inactive: number;
}

// The same conditions as INTROSPECT_SQL (queries.ts), evaluated per row: one pass over the tokens
// table. A full scan: run it on a slow timer or on scrape with a cache, never per request.
const COUNTS_SQL = `
SELECT
  CASE
    WHEN t.expires_at <= @now THEN 'expired'
    WHEN t.revoked_seq IS NOT NULL OR f.revoked_seq IS NOT NULL THEN 'revoked'
    WHEN g.grant_id IS NULL OR c.client_id IS NULL
      OR g.revoked_seq IS NOT NULL OR (g.expires_at IS NOT NULL AND g.expires_at <= @now)
      OR (s.revoked_seq IS NOT NULL AND g.created_seq <= s.revoked_seq)
      OR c.status <> 'active' OR (c.tokens_revoked_seq IS NOT NULL AND f.created_seq <= c.tokens_revoked_seq) THEN 'inactive'
    ELSE 'active'
  END AS state,
  count(*) AS n
FROM tokens t
LEFT JOIN token_families f ON f.family_id = t.family_id
LEFT JOIN grants g ON g.grant_id = f.grant_id
LEFT JOIN clients c ON c.client_id = g.client_id
LEFT JOIN subjects s ON s.subject = g.subject AND g.kind = 'user'
GROUP BY state`;

/** Counts the read model's tokens by state at `nowMs` (a full scan: see COUNTS_SQL). */
export function countTokensByState(db: Database, nowMs: number): TokenCounts {
  const counts = { active: 0, expired: 0, revoked: 0, inactive: 0 };
  for (const row of db.prepare<[{ now: number }], { state: keyof TokenCounts; n: number }>(COUNTS_SQL).all({ now: nowMs })) {
    counts[row.state] = row.n;
  }
  return counts;
}
