import type { Database, Statement } from "better-sqlite3";
import { intersectScopes } from "../../services/domain/shared/scopes.js";
import { type Checkpoint, readCheckpoint } from "../runner/sqlite.js";
import { TOKENS_PROJECTION_NAME } from "./handlers.js";
import { LIST_SEPARATOR, SCOPE_SEPARATOR, splitList, storedHash, TOKEN_KINDS } from "./schema.js";
import { scopesOfMask } from "./scope-bits.js";

export type TokenKind = "access_token" | "refresh_token";
export type ClientStatus = "active" | "suspended" | "deleted";
export type GrantStatus = "active" | "revoked" | "expired";

/** An active token, as introspection reports it (RFC 7662 fields under our names). */
export interface IntrospectedToken {
  readonly tokenId: string;
  readonly kind: TokenKind;
  readonly scopes: string[];
  /** The same scopes space-separated, as RFC 7662 `scope` wants them (no join needed). */
  readonly scope: string;
  readonly clientId: string;
  readonly subject: string;
  /** Epoch milliseconds. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly grantId: string;
  readonly resources: string[];
  /**
   * Epoch ms from which time alone makes the answer inactive: the earlier of the token's and its
   * grant's expiry (what a cached answer is checked against; nothing but a new event changes the rest).
   */
  readonly validUntil: number;
}

/** An authorization code whatever its state, for redemption to find its grant. */
export interface CodeRef {
  readonly codeId: string;
  readonly grantId: string;
  readonly clientId: string;
}

/** A token whatever its state, for revocation. */
export interface TokenRef {
  readonly tokenId: string;
  readonly grantId: string;
  readonly clientId: string;
  readonly kind: TokenKind;
  readonly familyId: string;
}

export interface ClientView {
  readonly clientId: string;
  readonly ownerAccount: string;
  readonly name: string;
  readonly redirectUris: string[];
  readonly allowedScopes: string[];
  readonly clientType: "confidential" | "public";
  readonly status: ClientStatus;
  /** Reason of the last suspension, reinstatement or deletion; null while never changed. */
  readonly statusReason: string | null;
  /** Epoch milliseconds of the registering / last touching message (envelope `at`). */
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Stream sequence of the last message that touched the client. */
  readonly seq: number;
}

export interface GrantView {
  readonly grantId: string;
  readonly subject: string;
  readonly clientId: string;
  /** Null when the client is unknown to the read model. */
  readonly clientName: string | null;
  /** The client's own status: a suspended or deleted client makes every token inactive, not the grant. */
  readonly clientStatus: ClientStatus | null;
  readonly scopes: string[];
  readonly resources: string[];
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly expiresAt: number | null;
  /** About the grant itself and its subject's watermark, at `nowMs`. */
  readonly status: GrantStatus;
  /** The revocation reason, "subject revoked", "expired"; null while active. */
  readonly statusReason: string | null;
  /** When it was revoked (grant revocation or subject watermark), epoch ms; null otherwise. */
  readonly revokedAt: number | null;
  /** Stream sequence that created the grant (listings are ordered by it). */
  readonly createdSeq: number;
  /** Stream sequence of the last message that touched the grant row. */
  readonly seq: number;
}

export type GrantFilter = { readonly subject: string } | { readonly clientId: string };

export interface ListGrantsOptions {
  /** Include revoked and expired grants (default false). */
  readonly includeInactive?: boolean;
  readonly nowMs: number;
}

export interface ListClientsOptions {
  /** Include deleted clients (default false). */
  readonly includeDeleted?: boolean;
}

const SUBJECT_REVOKED = "subject revoked";
const EXPIRED = "expired";

// The hot path: one point lookup by primary key, joined with the four rows that can make a token
// inactive (the family also names the grant). Any reason filters the row out, so "no row" is the only inactive answer, except one
// the caller computes from the row: an empty effective scope (token ∩ grant ∩ client allowed).
// The subject watermark covers user grants only; a client's own grant (client credentials) answers
// to the client's token watermark, which covers every family started at or before it.
export const INTROSPECT_SQL = `
SELECT t.token_id, t.kind, t.scopes, g.client_id, g.subject, t.issued_at, t.expires_at, f.grant_id, g.resources,
       g.scopes, c.allowed_scopes, g.scope_names, g.expires_at
FROM tokens t
JOIN token_families f ON f.family_id = t.family_id
JOIN grants g ON g.grant_id = f.grant_id
JOIN clients c ON c.client_id = g.client_id
LEFT JOIN subjects s ON s.subject = g.subject AND g.kind = 'user'
WHERE t.hash = ? AND t.expires_at > ? AND t.revoked_seq IS NULL
  AND f.revoked_seq IS NULL
  AND g.revoked_seq IS NULL AND (g.expires_at IS NULL OR g.expires_at > ?)
  AND (s.revoked_seq IS NULL OR g.created_seq > s.revoked_seq)
  AND c.status = 'active' AND (c.tokens_revoked_seq IS NULL OR f.created_seq > c.tokens_revoked_seq)`;

type IntrospectRow = [string, number, number | string, string, string, number, number, string, string, string, string, string, number | null];

const CLIENT_COLUMNS = `client_id AS clientId, owner_account AS ownerAccount, name, redirect_uris AS redirectUris,
  allowed_scopes AS allowedScopes, client_type AS clientType, status, status_reason AS statusReason,
  created_at AS createdAt, updated_at AS updatedAt, seq`;

interface ClientRow extends Omit<ClientView, "redirectUris" | "allowedScopes"> {
  redirectUris: string;
  allowedScopes: string;
}

const SUBJECT_WATERMARKED = "(s.revoked_seq IS NOT NULL AND g.created_seq <= s.revoked_seq)";
const GRANT_EXPIRED = "(g.expires_at IS NOT NULL AND g.expires_at <= @now)";
const GRANT_SELECT = `
SELECT g.grant_id AS grantId, g.subject, g.client_id AS clientId, c.name AS clientName, c.status AS clientStatus,
  g.scopes, g.resources, g.created_at AS createdAt, g.expires_at AS expiresAt,
  CASE WHEN g.revoked_seq IS NOT NULL OR ${SUBJECT_WATERMARKED} THEN 'revoked'
       WHEN ${GRANT_EXPIRED} THEN 'expired' ELSE 'active' END AS status,
  CASE WHEN g.revoked_seq IS NOT NULL THEN g.revoked_reason
       WHEN ${SUBJECT_WATERMARKED} THEN '${SUBJECT_REVOKED}'
       WHEN ${GRANT_EXPIRED} THEN '${EXPIRED}' ELSE NULL END AS statusReason,
  CASE WHEN g.revoked_seq IS NOT NULL THEN g.revoked_at
       WHEN ${SUBJECT_WATERMARKED} THEN s.revoked_at ELSE NULL END AS revokedAt,
  g.created_seq AS createdSeq, g.seq
FROM grants g
LEFT JOIN clients c ON c.client_id = g.client_id
LEFT JOIN subjects s ON s.subject = g.subject`;
const GRANT_ACTIVE = `g.revoked_seq IS NULL AND NOT ${SUBJECT_WATERMARKED} AND NOT ${GRANT_EXPIRED}`;

interface GrantRow extends Omit<GrantView, "scopes" | "resources"> {
  scopes: string;
  resources: string;
}

interface GrantParams {
  key: string;
  now: number;
}

/**
 * Queries over the tokens read model, every statement prepared once. Works on any connection to
 * the file (the runner's own, or a read-only one in another process).
 */
export class TokensReadModel {
  readonly #db: Database;
  readonly #introspect: Statement<[Buffer, number, number], IntrospectRow>;
  readonly #findToken: Statement<[Buffer], TokenRefRow>;
  readonly #findCode: Statement<[Buffer], CodeRef>;
  readonly #getClient: Statement<[string], ClientRow>;
  readonly #listClients: Statement<[string], ClientRow>;
  readonly #listAllClients: Statement<[string], ClientRow>;
  readonly #getGrant: Statement<[GrantParams], GrantRow>;
  readonly #grantsBySubject: Statement<[GrantParams], GrantRow>;
  readonly #activeGrantsBySubject: Statement<[GrantParams], GrantRow>;
  readonly #grantsByClient: Statement<[GrantParams], GrantRow>;
  readonly #activeGrantsByClient: Statement<[GrantParams], GrantRow>;

  constructor(db: Database) {
    this.#db = db;
    this.#introspect = db.prepare<[Buffer, number, number], IntrospectRow>(INTROSPECT_SQL).raw(true);
    this.#findToken = db.prepare(`
      SELECT t.token_id AS tokenId, f.grant_id AS grantId, g.client_id AS clientId, t.kind, t.family_id AS familyId
      FROM tokens t JOIN token_families f ON f.family_id = t.family_id JOIN grants g ON g.grant_id = f.grant_id
      WHERE t.hash = ?`);
    this.#findCode = db.prepare(`
      SELECT k.code_id AS codeId, k.grant_id AS grantId, g.client_id AS clientId
      FROM codes k JOIN grants g ON g.grant_id = k.grant_id WHERE k.hash = ?`);
    this.#getClient = db.prepare(`SELECT ${CLIENT_COLUMNS} FROM clients WHERE client_id = ?`);
    this.#listClients = db.prepare(
      `SELECT ${CLIENT_COLUMNS} FROM clients WHERE owner_account = ? AND status <> 'deleted' ORDER BY created_seq`,
    );
    this.#listAllClients = db.prepare(
      `SELECT ${CLIENT_COLUMNS} FROM clients WHERE owner_account = ? ORDER BY created_seq`,
    );
    this.#getGrant = db.prepare(`${GRANT_SELECT} WHERE g.grant_id = @key`);
    this.#grantsBySubject = db.prepare(`${GRANT_SELECT} WHERE g.subject = @key ORDER BY g.created_seq`);
    this.#activeGrantsBySubject = db.prepare(
      `${GRANT_SELECT} WHERE g.subject = @key AND ${GRANT_ACTIVE} ORDER BY g.created_seq`,
    );
    this.#grantsByClient = db.prepare(`${GRANT_SELECT} WHERE g.client_id = @key ORDER BY g.created_seq`);
    this.#activeGrantsByClient = db.prepare(
      `${GRANT_SELECT} WHERE g.client_id = @key AND ${GRANT_ACTIVE} ORDER BY g.created_seq`,
    );
  }

  /**
   * The token with this keyed hash if it is active at `nowMs`; undefined when it is inactive for
   * any reason (unknown, expired, revoked, family revoked, grant revoked or expired, subject
   * revoked after the grant, client suspended or deleted, client's tokens revoked after its family
   * started, no scope left). One indexed point lookup. `scopes` are the effective ones: the token's
   * own ∩ its grant's current ∩ its client's allowed (scope changes narrow tokens at read time).
   */
  introspect(hash: string, nowMs: number): IntrospectedToken | undefined {
    const row = this.#introspect.get(storedHash(hash), nowMs, nowMs);
    if (row === undefined) return undefined;
    const own = typeof row[2] === "number" ? scopesOfMask(row[2], splitList(row[11], SCOPE_SEPARATOR)) : splitList(row[2], SCOPE_SEPARATOR);
    const scopes = intersectScopes(
      own,
      splitList(row[9], SCOPE_SEPARATOR),
      splitList(row[10], SCOPE_SEPARATOR),
    );
    if (scopes.length === 0) return undefined;
    return {
      tokenId: row[0],
      kind: tokenKind(row[1]),
      scopes,
      scope: scopes.join(SCOPE_SEPARATOR),
      clientId: row[3],
      subject: row[4],
      issuedAt: row[5],
      expiresAt: row[6],
      grantId: row[7],
      resources: splitList(row[8], LIST_SEPARATOR),
      validUntil: row[12] === null ? row[6] : Math.min(row[6], row[12]),
    };
  }

  /** The token with this keyed hash whatever its state (revocation needs its grant and family). */
  findToken(hash: string): TokenRef | undefined {
    const row = this.#findToken.get(storedHash(hash));
    return row === undefined ? undefined : { ...row, kind: tokenKind(row.kind) };
  }

  /** The authorization code with this keyed hash, redeemed or not, until it expires from the file. */
  findCode(hash: string): CodeRef | undefined {
    return this.#findCode.get(storedHash(hash));
  }

  getClient(clientId: string): ClientView | undefined {
    const row = this.#getClient.get(clientId);
    return row === undefined ? undefined : toClientView(row);
  }

  /** The account's clients in registration order; deleted ones only with `includeDeleted`. */
  listClients(ownerAccount: string, options: ListClientsOptions = {}): ClientView[] {
    const statement = options.includeDeleted === true ? this.#listAllClients : this.#listClients;
    return statement.all(ownerAccount).map(toClientView);
  }

  getGrant(grantId: string, nowMs: number): GrantView | undefined {
    const row = this.#getGrant.get({ key: grantId, now: nowMs });
    return row === undefined ? undefined : toGrantView(row);
  }

  /** A subject's or a client's grants in creation order; active ones only unless `includeInactive`. */
  listGrants(filter: GrantFilter, options: ListGrantsOptions): GrantView[] {
    const all = options.includeInactive === true;
    const params = { key: "", now: options.nowMs };
    let statement: Statement<[GrantParams], GrantRow>;
    if ("subject" in filter) {
      params.key = filter.subject;
      statement = all ? this.#grantsBySubject : this.#activeGrantsBySubject;
    } else {
      params.key = filter.clientId;
      statement = all ? this.#grantsByClient : this.#activeGrantsByClient;
    }
    return statement.all(params).map(toGrantView);
  }

  /** The projection's checkpoint in this file: the stream sequence the answers reflect. */
  checkpoint(): Checkpoint | undefined {
    return readCheckpoint(this.#db, TOKENS_PROJECTION_NAME);
  }
}

/** The stored kind back; any other number is a corrupt row, never answered as some kind. */
function tokenKind(stored: number): TokenKind {
  const kind = TOKEN_KINDS[stored];
  if (kind === undefined) throw new Error(`tokens read model: unknown stored token kind ${stored}`);
  return kind;
}

interface TokenRefRow extends Omit<TokenRef, "kind"> {
  kind: number;
}

const toClientView = (row: ClientRow): ClientView => ({
  ...row,
  redirectUris: splitList(row.redirectUris, LIST_SEPARATOR),
  allowedScopes: splitList(row.allowedScopes, SCOPE_SEPARATOR),
});

const toGrantView = (row: GrantRow): GrantView => ({
  ...row,
  scopes: splitList(row.scopes, SCOPE_SEPARATOR),
  resources: splitList(row.resources, LIST_SEPARATOR),
});
