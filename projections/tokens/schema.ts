import type { Database } from "better-sqlite3";

/**
 * The tokens read model. Every row records `seq`, the stream sequence of the last message that
 * touched it. "Active" is never stored per token: introspection joins a token with its family,
 * grant, client and subject rows, so one grant, client or subject event deactivates every token
 * under it without touching token rows.
 *
 * Every table is WITHOUT ROWID: introspection's join is then one B-tree seek per table, keyed by
 * the primary key, instead of an index seek plus a table seek. The price is that every secondary
 * index repeats the primary key, so the keys of the big tables are kept short: tokens and codes are
 * keyed by the 32 bytes of their HMAC, not by its 47-character text form (see {@link storedHash}).
 *
 * Lists are stored joined rather than as JSON, so the hot path never parses JSON: scopes with a
 * space (scope names cannot hold one, RFC 6749 §3.3), resources and redirect URIs with U+001F
 * (a control character no URI or identifier holds).
 */
export const TOKENS_SCHEMA = `
CREATE TABLE IF NOT EXISTS clients (
  client_id      TEXT PRIMARY KEY,
  owner_account  TEXT NOT NULL,
  name           TEXT NOT NULL,
  redirect_uris  TEXT NOT NULL,
  allowed_scopes TEXT NOT NULL,
  client_type    TEXT NOT NULL,
  status         TEXT NOT NULL,         -- active | suspended | deleted
  status_reason  TEXT,
  -- RevokeClientTokens watermark: every token family started at a sequence <= it is inactive.
  tokens_revoked_seq INTEGER,
  tokens_revoked_at  INTEGER,
  created_at     INTEGER NOT NULL,      -- envelope at, epoch ms
  updated_at     INTEGER NOT NULL,
  created_seq    INTEGER NOT NULL,
  seq            INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS clients_by_owner ON clients (owner_account, created_seq);

-- "Revoked before" watermark: every grant created at a sequence <= revoked_seq is revoked.
CREATE TABLE IF NOT EXISTS subjects (
  subject     TEXT PRIMARY KEY,
  revoked_seq INTEGER NOT NULL,
  revoked_at  INTEGER NOT NULL,
  reason      TEXT NOT NULL,
  seq         INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- kind 'client': the client's own grant (client credentials), subject = client_id, no subject watermark.
CREATE TABLE IF NOT EXISTS grants (
  grant_id       TEXT PRIMARY KEY,
  kind           TEXT NOT NULL,         -- user | client
  subject        TEXT NOT NULL,
  client_id      TEXT NOT NULL,
  scopes         TEXT NOT NULL,
  -- Every scope the grant has held, in order of first appearance; token scopes are a bitmask over
  -- it (scope-bits.ts). It only grows, so a bit keeps its meaning.
  scope_names    TEXT NOT NULL,
  resources      TEXT NOT NULL,
  created_at     INTEGER NOT NULL,      -- event data, epoch ms
  expires_at     INTEGER,               -- null: never expires
  revoked_seq    INTEGER,
  revoked_at     INTEGER,
  revoked_reason TEXT,
  created_seq    INTEGER NOT NULL,
  seq            INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS grants_by_subject ON grants (subject, created_seq);
CREATE INDEX IF NOT EXISTS grants_by_client ON grants (client_id, created_seq);

-- One row per family: revocation marks it; expires_at is the latest expiry of its tokens, after
-- which cleanup drops it with them (no expiry index: cleanup sweeps the primary key, cleanup.ts).
CREATE TABLE IF NOT EXISTS token_families (
  family_id      TEXT PRIMARY KEY,
  grant_id       TEXT NOT NULL,
  expires_at     INTEGER NOT NULL,
  created_seq    INTEGER NOT NULL,      -- the family's first token: the client watermark compares it
  revoked_seq    INTEGER,
  revoked_reason TEXT,
  seq            INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Authorization codes by keyed hash, only so redemption can find a code's grant (the grant
-- aggregate decides); kept until expiry, redeemed or not, so a second redemption is recognized.
CREATE TABLE IF NOT EXISTS codes (
  hash       BLOB PRIMARY KEY,          -- storedHash(): the 32-byte HMAC
  code_id    TEXT NOT NULL,
  grant_id   TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  seq        INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS codes_by_exp ON codes (expires_at);

-- Keyed by the token's keyed hash (storedHash(): the 32-byte HMAC); the token itself is never
-- stored. The grant is not repeated per token: the token's family row names it (every token has one).
CREATE TABLE IF NOT EXISTS tokens (
  hash           BLOB PRIMARY KEY,
  token_id       TEXT NOT NULL,
  kind           INTEGER NOT NULL,      -- 0 access_token | 1 refresh_token (TOKEN_KINDS)
  family_id      TEXT NOT NULL,
  scopes         ANY NOT NULL,          -- INTEGER mask over grants.scope_names, or TEXT (scope-bits.ts)
  issued_at      INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  revoked_seq    INTEGER,
  revoked_reason TEXT,
  seq            INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
-- No expiry index: cleanup sweeps the primary key (cleanup.ts).
CREATE UNIQUE INDEX IF NOT EXISTS tokens_by_id ON tokens (token_id);
`;

export const migrateTokens = (db: Database): void => {
  db.exec(TOKENS_SCHEMA);
};

/** Stored token kinds: the index of the kind here (an integer of no bytes for SQLite, not 13 characters). */
export const TOKEN_KINDS = ["access_token", "refresh_token"] as const;
export type StoredTokenKind = (typeof TOKEN_KINDS)[number];
export const storedTokenKind = (kind: StoredTokenKind): number => (kind === "refresh_token" ? 1 : 0);

const HMAC_BYTES = 32;
/** `<keyId>:<base64url of the 32-byte HMAC>`, as services/crypto/keys.ts makes it (key ids as config allows them). */
const KEYED_HASH = /^[A-Za-z0-9_-]{1,32}:([A-Za-z0-9_-]{43})$/;

/**
 * The key a keyed hash (`<keyId>:<base64url HMAC>`, as events carry it) is stored and looked up
 * under: the HMAC's 32 bytes. The key id is left out: introspection computes one hash per verifying
 * key and looks each up, and two keys giving one HMAC is a collision of HMAC-SHA-256. Anything else
 * maps to its UTF-8 bytes: it can only find a row stored from the same string, so a lookup that must
 * miss (introspection's probe for a malformed token) is still a lookup, and misses.
 */
export function storedHash(hash: string): Buffer {
  const mac = KEYED_HASH.exec(hash)?.[1];
  const bytes = mac === undefined ? undefined : Buffer.from(mac, "base64url");
  return bytes !== undefined && bytes.length === HMAC_BYTES ? bytes : Buffer.from(hash, "utf8");
}

/** Separator of stored scope lists. */
export const SCOPE_SEPARATOR = " ";
/** Separator of stored resource and redirect URI lists. */
export const LIST_SEPARATOR = "\u001f";

export const joinList = (items: readonly string[], separator: string): string => items.join(separator);

export const splitList = (stored: string, separator: string): string[] =>
  stored.length === 0 ? [] : stored.split(separator);
