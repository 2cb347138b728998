import type { Database, Statement } from "better-sqlite3";
import type { EventOf, LedgerEvent, LedgerEventType } from "../../services/domain/events.js";
import type { IssuedToken } from "../../services/domain/grant/events.js";
import type { RecordedEnvelope } from "../../services/eventlog/types.js";
import type { Projection } from "../runner/projection.js";
import { joinList, LIST_SEPARATOR, migrateTokens, SCOPE_SEPARATOR, splitList, storedHash, storedTokenKind } from "./schema.js";
import { extendVocabulary, scopeMask } from "./scope-bits.js";

/** The write statements of the tokens projection, prepared once per connection. */
export interface TokensStatements {
  readonly upsertClient: Statement<[string, string, string, string, string, string, number, number, number, number]>;
  readonly setClientStatus: Statement<[string, string, number, number, string]>;
  readonly insertGrant: Statement<[string, string, string, string, string, string, number, number | null, number, number]>;
  readonly revokeGrant: Statement<[number, number, string, number, string]>;
  readonly insertToken: Statement<[Buffer, string, number, string, bigint | string, number, number, number]>;
  readonly upsertFamily: Statement<[string, string, number, number, number]>;
  readonly revokeToken: Statement<[number, string, number, string, string]>;
  readonly revokeFamily: Statement<[string, string, number, number, number, string, number]>;
  readonly revokeSubject: Statement<[string, number, number, string, number]>;
  readonly updateClient: Statement<[string, string, string, number, number, string]>;
  readonly touchClient: Statement<[number, number, string]>;
  readonly revokeClientTokens: Statement<[number, number, number, number, string]>;
  readonly insertClientGrant: Statement<[string, string, string, string, string, number, number, number]>;
  readonly grantScopeNames: Statement<[string], string>;
  readonly updateGrantScopes: Statement<[string, string, number, string]>;
  readonly insertCode: Statement<[Buffer, string, string, number, number]>;
}

export function prepareTokensStatements(db: Database): TokensStatements {
  return {
    upsertClient: db.prepare(`
      INSERT INTO clients (client_id, owner_account, name, redirect_uris, allowed_scopes, client_type, status,
                           status_reason, created_at, updated_at, created_seq, seq)
      VALUES (?, ?, ?, ?, ?, ?, 'active', NULL, ?, ?, ?, ?)
      ON CONFLICT (client_id) DO UPDATE SET
        owner_account = excluded.owner_account, name = excluded.name, redirect_uris = excluded.redirect_uris,
        allowed_scopes = excluded.allowed_scopes, client_type = excluded.client_type, status = 'active',
        status_reason = NULL, updated_at = excluded.updated_at, seq = excluded.seq`),
    setClientStatus: db.prepare(
      "UPDATE clients SET status = ?, status_reason = ?, updated_at = ?, seq = ? WHERE client_id = ?",
    ),
    insertGrant: db.prepare(`
      INSERT INTO grants (grant_id, kind, subject, client_id, scopes, scope_names, resources, created_at, expires_at, created_seq, seq)
      VALUES (?, 'user', ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    // The first revocation is the one reported; later ones only bump seq.
    revokeGrant: db.prepare(`
      UPDATE grants SET revoked_seq = coalesce(revoked_seq, ?), revoked_at = coalesce(revoked_at, ?),
                        revoked_reason = coalesce(revoked_reason, ?), seq = ?
      WHERE grant_id = ?`),
    insertToken: db.prepare(`
      INSERT INTO tokens (hash, token_id, kind, family_id, scopes, issued_at, expires_at, seq)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    upsertFamily: db.prepare(`
      INSERT INTO token_families (family_id, grant_id, expires_at, created_seq, seq) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (family_id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at), seq = excluded.seq`),
    // The token must be the grant's (through its family): an event names tokens of its own grant only.
    revokeToken: db.prepare(`
      UPDATE tokens SET revoked_seq = coalesce(revoked_seq, ?), revoked_reason = coalesce(revoked_reason, ?), seq = ?
      WHERE token_id = ?
        AND EXISTS (SELECT 1 FROM token_families f WHERE f.family_id = tokens.family_id AND f.grant_id = ?)`),
    // A family not (or no longer) in the file is recorded revoked all the same, so a token rotated
    // into it later is born inactive; it expires from the file like any family.
    revokeFamily: db.prepare(`
      INSERT INTO token_families (family_id, grant_id, expires_at, created_seq, revoked_seq, revoked_reason, seq)
      VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (family_id) DO UPDATE SET revoked_seq = coalesce(revoked_seq, excluded.revoked_seq),
        revoked_reason = coalesce(revoked_reason, excluded.revoked_reason), seq = excluded.seq`),
    revokeSubject: db.prepare(`
      INSERT INTO subjects (subject, revoked_seq, revoked_at, reason, seq) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (subject) DO UPDATE SET revoked_seq = excluded.revoked_seq, revoked_at = excluded.revoked_at,
        reason = excluded.reason, seq = excluded.seq`),
    updateClient: db.prepare(
      "UPDATE clients SET name = ?, redirect_uris = ?, allowed_scopes = ?, updated_at = ?, seq = ? WHERE client_id = ?",
    ),
    touchClient: db.prepare("UPDATE clients SET updated_at = ?, seq = ? WHERE client_id = ?"),
    revokeClientTokens: db.prepare(
      "UPDATE clients SET tokens_revoked_seq = ?, tokens_revoked_at = ?, updated_at = ?, seq = ? WHERE client_id = ?",
    ),
    insertClientGrant: db.prepare(`
      INSERT INTO grants (grant_id, kind, subject, client_id, scopes, scope_names, resources, created_at, expires_at, created_seq, seq)
      VALUES (?, 'client', ?, ?, ?, ?, '', ?, NULL, ?, ?)`),
    grantScopeNames: db.prepare<[string], string>("SELECT scope_names FROM grants WHERE grant_id = ?").pluck(),
    updateGrantScopes: db.prepare("UPDATE grants SET scopes = ?, scope_names = ?, seq = ? WHERE grant_id = ?"),
    insertCode: db.prepare("INSERT INTO codes (hash, code_id, grant_id, expires_at, seq) VALUES (?, ?, ?, ?, ?)"),
  };
}

/** Per-apply context: the statements and the projection's options. */
export interface TokensApplyContext {
  readonly statements: TokensStatements;
  /** Tokens expiring before this are not inserted (see {@link TokensProjectionOptions}); -Infinity keeps all. */
  readonly dropExpiredBefore: number;
}

type Handler<K extends LedgerEventType> = (ctx: TokensApplyContext, event: EventOf<K>, envelope: RecordedEnvelope) => void;

/** One handler per event type: an event type missing here fails to compile. */
export type TokensHandlers = { readonly [K in LedgerEventType]: Handler<K> };

const setClientStatus = (
  ctx: TokensApplyContext,
  status: "active" | "suspended" | "deleted",
  data: { clientId: string; reason: string },
  envelope: RecordedEnvelope,
): void => {
  ctx.statements.setClientStatus.run(status, data.reason, envelope.at, envelope.seq, data.clientId);
};

/**
 * A token's scopes as stored: the mask over its grant's vocabulary, else the text. The mask is bound
 * as a BigInt: better-sqlite3 binds a number as REAL, which an ANY column keeps as 8 bytes, where an
 * integer this small takes one.
 */
function storedScopes(scopes: readonly string[], vocabulary: readonly string[]): bigint | string {
  const mask = scopeMask(scopes, vocabulary);
  return mask === undefined ? joinList(scopes, SCOPE_SEPARATOR) : BigInt(mask);
}

/** Why a refresh token stops being active when a rotation consumes it. */
const ROTATED = "rotated";

/**
 * Inserts the tokens and upserts their families: once per run of tokens of one family (an access
 * token and its refresh token share one), with the run's latest expiry. The upsert keeps the max
 * expiry, so the row is the same as with one upsert per token, for one statement less.
 */
function insertTokens(ctx: TokensApplyContext, grantId: string, tokens: readonly IssuedToken[], envelope: RecordedEnvelope): void {
  const { statements, dropExpiredBefore } = ctx;
  const vocabulary = splitList(statements.grantScopeNames.get(grantId) ?? "", SCOPE_SEPARATOR);
  let familyId: string | undefined;
  let familyExpiresAt = 0;
  const upsertFamily = (): void => {
    if (familyId !== undefined) statements.upsertFamily.run(familyId, grantId, familyExpiresAt, envelope.seq, envelope.seq);
  };
  for (const token of tokens) {
    if (token.expiresAt < dropExpiredBefore) continue;
    statements.insertToken.run(
      storedHash(token.hash),
      token.tokenId,
      storedTokenKind(token.kind),
      token.familyId,
      storedScopes(token.scopes, vocabulary),
      token.issuedAt,
      token.expiresAt,
      envelope.seq,
    );
    if (token.familyId === familyId) {
      familyExpiresAt = Math.max(familyExpiresAt, token.expiresAt);
    } else {
      upsertFamily();
      familyId = token.familyId;
      familyExpiresAt = token.expiresAt;
    }
  }
  upsertFamily();
}

function revokeFamily(statements: TokensStatements, grantId: string, familyId: string, reason: string, envelope: RecordedEnvelope): void {
  statements.revokeFamily.run(familyId, grantId, envelope.at, envelope.seq, envelope.seq, reason, envelope.seq);
}

export const tokensHandlers = {
  "client.registered": ({ statements }, { data }, envelope) => {
    statements.upsertClient.run(
      data.clientId,
      data.ownerAccount,
      data.name,
      joinList(data.redirectUris, LIST_SEPARATOR),
      joinList(data.allowedScopes, SCOPE_SEPARATOR),
      data.clientType,
      envelope.at,
      envelope.at,
      envelope.seq,
      envelope.seq,
    );
  },
  "client.suspended": (ctx, { data }, envelope) => setClientStatus(ctx, "suspended", data, envelope),
  "client.reinstated": (ctx, { data }, envelope) => setClientStatus(ctx, "active", data, envelope),
  "client.deleted": (ctx, { data }, envelope) => setClientStatus(ctx, "deleted", data, envelope),
  "client.updated": ({ statements }, { data }, envelope) => {
    statements.updateClient.run(
      data.name,
      joinList(data.redirectUris, LIST_SEPARATOR),
      joinList(data.allowedScopes, SCOPE_SEPARATOR),
      envelope.at,
      envelope.seq,
      data.clientId,
    );
  },
  // The read model never holds a secret (not even its hash): only the touch is recorded.
  "client.secret_rotated": ({ statements }, { data }, envelope) => {
    statements.touchClient.run(envelope.at, envelope.seq, data.clientId);
  },
  // The watermark is the envelope's sequence: families started at or before it are inactive.
  "client.tokens_revoked": ({ statements }, { data }, envelope) => {
    statements.revokeClientTokens.run(envelope.seq, data.revokedAt, envelope.at, envelope.seq, data.clientId);
  },

  "grant.created": ({ statements }, { data }, envelope) => {
    const scopes = joinList(data.scopes, SCOPE_SEPARATOR);
    statements.insertGrant.run(
      data.grantId,
      data.subject,
      data.clientId,
      scopes,
      scopes,
      joinList(data.resources, LIST_SEPARATOR),
      data.createdAt,
      data.expiresAt,
      envelope.seq,
      envelope.seq,
    );
  },
  "grant.revoked": ({ statements }, { data }, envelope) => {
    statements.revokeGrant.run(envelope.seq, envelope.at, data.reason, envelope.seq, data.grantId);
  },
  "token.issued": (ctx, { data }, envelope) => insertTokens(ctx, data.grantId, data.tokens, envelope),
  "token.revoked": ({ statements }, { data }, envelope) => {
    for (const tokenId of data.tokenIds) {
      statements.revokeToken.run(envelope.seq, data.reason, envelope.seq, tokenId, data.grantId);
    }
    for (const familyId of data.familyIds) revokeFamily(statements, data.grantId, familyId, data.reason, envelope);
  },
  "grant.created_for_client": ({ statements }, { data }, envelope) => {
    const scopes = joinList(data.scopes, SCOPE_SEPARATOR);
    statements.insertClientGrant.run(
      data.grantId,
      data.clientId,
      data.clientId,
      scopes,
      scopes,
      data.createdAt,
      envelope.seq,
      envelope.seq,
    );
  },
  // Tokens are not touched: introspection intersects their scopes with the grant's current ones.
  // New scope names extend the vocabulary the grant's token masks are read with.
  "grant.scopes_updated": ({ statements }, { data }, envelope) => {
    const vocabulary = extendVocabulary(splitList(statements.grantScopeNames.get(data.grantId) ?? "", SCOPE_SEPARATOR), data.scopes);
    statements.updateGrantScopes.run(
      joinList(data.scopes, SCOPE_SEPARATOR),
      joinList(vocabulary, SCOPE_SEPARATOR),
      envelope.seq,
      data.grantId,
    );
  },
  "code.issued": ({ statements, dropExpiredBefore }, { data }, envelope) => {
    if (data.expiresAt < dropExpiredBefore) return;
    statements.insertCode.run(storedHash(data.hash), data.codeId, data.grantId, data.expiresAt, envelope.seq);
  },
  // The code row stays until it expires, so a second redemption still finds its grant.
  "code.redeemed": (ctx, { data }, envelope) => insertTokens(ctx, data.grantId, data.tokens, envelope),
  "refresh.rotated": (ctx, { data }, envelope) => {
    ctx.statements.revokeToken.run(envelope.seq, ROTATED, envelope.seq, data.consumedTokenId, data.grantId);
    insertTokens(ctx, data.grantId, data.tokens, envelope);
  },
  "refresh.reuse_detected": ({ statements }, { data }, envelope) => {
    revokeFamily(statements, data.grantId, data.familyId, data.reason, envelope);
  },

  // The watermark is the envelope's sequence: grants created at or before it are revoked.
  "subject.revoked": ({ statements }, { data }, envelope) => {
    statements.revokeSubject.run(data.subject, envelope.seq, data.revokedAt, data.reason, envelope.seq);
  },

  // Checkpoints are about the log itself; nothing to read for introspection.
  "checkpoint.signed": () => undefined,
} satisfies TokensHandlers;

/** Applies one event; the handler map above guarantees one handler per type. */
export const applyTokensEvent = (ctx: TokensApplyContext, event: LedgerEvent, envelope: RecordedEnvelope): void =>
  (tokensHandlers[event.type] as Handler<LedgerEventType>)(ctx, event, envelope);

/** Options of {@link createTokensProjection}. */
export interface TokensProjectionOptions {
  /**
   * When given, `token.issued` skips tokens that expired before `dropExpiredBefore()` (minus
   * nothing: pass your cleanup grace into the clock). A rebuild from sequence 1 then writes only
   * the live tokens instead of all of history and deleting it again. Off by default, which keeps
   * `apply` a pure function of the log.
   */
  dropExpiredBefore?: () => number;
  /**
   * Overrides the version (tests of the automatic rebuild on a version bump); with
   * `servesVersions`, the older versions whose files it may keep serving meanwhile.
   */
  version?: number;
  servesVersions?: readonly number[];
}

export const TOKENS_PROJECTION_NAME = "tokens";
/**
 * 2: client token watermark, grant kind and scope changes, family start, authorization codes.
 * 3: smaller rows (issue 8's storage bar): hashes as 32-byte blobs, kind as an integer, a token's
 * grant through its family, no token expiry index, token scopes as a bitmask over the grant's
 * scope vocabulary.
 */
export const TOKENS_PROJECTION_VERSION = 3;

/** The tokens projection, for the runner. Statements are prepared once per connection. */
export function createTokensProjection(options: TokensProjectionOptions = {}): Projection {
  const statements = new WeakMap<Database, TokensStatements>();
  const clock = options.dropExpiredBefore;
  return {
    name: TOKENS_PROJECTION_NAME,
    version: options.version ?? TOKENS_PROJECTION_VERSION,
    ...(options.servesVersions === undefined ? {} : { servesVersions: options.servesVersions }),
    migrate: migrateTokens,
    apply(db: Database, envelope: RecordedEnvelope): void {
      let prepared = statements.get(db);
      if (prepared === undefined) {
        prepared = prepareTokensStatements(db);
        statements.set(db, prepared);
      }
      const ctx: TokensApplyContext = {
        statements: prepared,
        dropExpiredBefore: clock === undefined ? Number.NEGATIVE_INFINITY : clock(),
      };
      for (const event of envelope.events) applyTokensEvent(ctx, event, envelope);
    },
  };
}

/** The tokens projection with default options: name "tokens", version {@link TOKENS_PROJECTION_VERSION}. */
export const TOKENS_PROJECTION: Projection = createTokensProjection();
