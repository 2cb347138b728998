import { createHash } from "node:crypto";
import { clientDecider } from "../domain/client/index.js";
import type { ClientState } from "../domain/client/state.js";
import { graceSuccessor, grantDecider, type GrantState } from "../domain/grant/index.js";
import { illegalState } from "../domain/shared/errors.js";
import { parseTokenKind, type TokenKind } from "../domain/shared/token-format.js";
import { hashToken } from "../crypto/keys.js";
import { mintId, mintToken } from "../crypto/mint.js";
import type { OAuthCommandDeps } from "./deps.js";
import { execute, type CommandContext } from "./execute.js";
import { idempotent, idempotentMinting } from "./idempotent.js";
import { loadIssuingContext, type IssueTokensResult } from "./token-commands.js";

/**
 * The OAuth flows, as named steps: validate the token format (no lookup for garbage) → authenticate
 * the client → find the grant (read model) → mint (kept sealed with the request, so a retry gets the
 * same answer) → decide on the grant → append with optimistic concurrency. The grant aggregate
 * decides every rule; this layer does what the pure domain cannot: crypto, lookups, the grace stash.
 */

export interface OAuthTokensResult extends IssueTokensResult {
  readonly grantId: string;
}

interface Minted {
  readonly token: string;
  readonly id: string;
}

interface MintedPair {
  readonly access: Minted;
  readonly refresh: Minted;
}

const mintPair = (): MintedPair => ({
  access: { token: mintToken("access_token"), id: mintId("at") },
  refresh: { token: mintToken("refresh_token"), id: mintId("rt") },
});

const invalidGrant = (message: string, field: string) => illegalState(message, { field, oauthCode: "invalid_grant" });

/** RFC 7636 §4.2 S256: base64url(SHA-256(ASCII(code_verifier))). */
export const pkceChallenge = (verifier: string): string => createHash("sha256").update(verifier, "ascii").digest("base64url");

/** The client's own grant, home of its client-credentials tokens (one per client, derived from its id). */
export const clientGrantId = (clientId: string): string => `cc_${clientId}`;

/** A secret or token as it may enter an idempotency fingerprint: keyed-hashed, never plain. */
const hidden = (deps: OAuthCommandDeps, value: string): string => (value === "" ? "" : hashToken(deps.keyring.stable, value));

/**
 * The read model's record for a presented token or code, trying every verifying key; when none is
 * found, waits until the read model holds everything the log held and tries again (a record, once
 * written, never changes grant, so a hit needs no wait).
 */
async function findByHash<T>(deps: OAuthCommandDeps, plaintext: string, find: (hash: string) => T | undefined): Promise<T | undefined> {
  const attempt = (): T | undefined => {
    for (const key of deps.keyring.verifying) {
      const found = find(hashToken(key, plaintext));
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const hit = attempt();
  if (hit !== undefined) return hit;
  await deps.lookup.catchUpToHead();
  return attempt();
}

function requireKind(token: string, kind: TokenKind, field: string, what: string): void {
  if (parseTokenKind(token) !== kind) throw invalidGrant(`${field} is not ${what}`, field);
}

/**
 * RFC 6749 §2.3.1 client authentication against the client aggregate's current state (the same check
 * every flow below runs first); exported for endpoints that authenticate a client without a flow
 * (HTTP revocation, introspection callers).
 */
export async function authenticateClient(
  deps: OAuthCommandDeps,
  ctx: Pick<CommandContext, "now">,
  clientId: string,
  secret: string,
): Promise<ClientState> {
  const client = await deps.aggregates.load({ kind: "client", id: clientId }, clientDecider);
  await deps.clientAuth.authenticate(client.state, clientId, secret, ctx.now());
  return client.state;
}

const loadClient = async (deps: OAuthCommandDeps, clientId: string) =>
  (await deps.aggregates.load({ kind: "client", id: clientId }, clientDecider)).state;

/** The answer for tokens recorded in `state` (fresh, or by an earlier attempt of the same request). */
function tokensResult(state: GrantState, minted: MintedPair, sequence: number): OAuthTokensResult {
  const access = state.tokens.get(minted.access.id);
  if (access === undefined) throw new Error("the decision did not record the minted access token");
  const withRefresh = state.tokens.has(minted.refresh.id);
  return {
    accessToken: minted.access.token,
    refreshToken: withRefresh ? minted.refresh.token : "",
    expiresIn: Math.max(0, Math.round((access.expiresAt - access.issuedAt) / 1000)),
    accessTokenId: minted.access.id,
    refreshTokenId: withRefresh ? minted.refresh.id : "",
    scopes: access.scopes,
    sequence,
    grantId: state.grantId,
  };
}

export interface IssueAuthorizationCodeInput {
  readonly grantId: string;
  readonly redirectUri: string;
  /** base64url(SHA-256(verifier)); null when the (confidential) client sent none. */
  readonly codeChallenge: string | null;
  readonly scopes: readonly string[];
}

export interface IssueAuthorizationCodeResult {
  readonly code: string;
  readonly codeId: string;
  readonly expiresIn: number;
  readonly scopes: readonly string[];
  readonly sequence: number;
}

/** A `glc_` code under an active grant; only its keyed hash is appended. */
export function issueAuthorizationCode(
  deps: OAuthCommandDeps,
  ctx: CommandContext,
  input: IssueAuthorizationCodeInput,
): Promise<IssueAuthorizationCodeResult> {
  const mint = (): Minted => ({ token: mintToken("authorization_code"), id: mintId("ac") });
  return idempotentMinting<IssueAuthorizationCodeResult, Minted>(deps, ctx, "IssueAuthorizationCode", input, mint, async ({ key, minted }) => {
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "grant", id: input.grantId },
      decider: grantDecider,
      msgId: key,
      build: async (grant, now, loaded) => ({
        type: "IssueAuthorizationCode" as const,
        now,
        ...(await loadIssuingContext(deps, grant, loaded)),
        codeId: minted.id,
        hash: hashToken(deps.keyring.current, minted.token),
        ttlMs: deps.oauth.authorizationCodeTtlSeconds * 1000,
        redirectUri: input.redirectUri,
        codeChallenge: input.codeChallenge,
        scopes: input.scopes,
      }),
    });
    const code = outcome.state.codes.get(minted.id);
    if (code === undefined) throw new Error("the decision did not record the minted code");
    return {
      code: minted.token,
      codeId: minted.id,
      expiresIn: Math.max(0, Math.round((code.expiresAt - code.issuedAt) / 1000)),
      scopes: code.scopes,
      sequence: outcome.seq,
    };
  });
}

export interface RedeemAuthorizationCodeInput {
  readonly code: string;
  readonly clientId: string;
  /** Empty for a public client. */
  readonly clientSecret: string;
  readonly redirectUri: string;
  /** Null when none was sent. */
  readonly codeVerifier: string | null;
}

/**
 * RFC 6749 §4.1.3: one redemption per code. A second one appends the revocation of the family the
 * first issued (RFC 9700 §4.4.1 / RFC 6749 §4.1.2) and answers `invalid_grant`.
 */
export function redeemAuthorizationCode(
  deps: OAuthCommandDeps,
  ctx: CommandContext,
  input: RedeemAuthorizationCodeInput,
): Promise<OAuthTokensResult> {
  const verifierChallenge = input.codeVerifier === null ? null : pkceChallenge(input.codeVerifier);
  const fingerprinted = { ...input, code: hidden(deps, input.code), clientSecret: hidden(deps, input.clientSecret), codeVerifier: verifierChallenge };
  return idempotent<OAuthTokensResult, MintedPair>(deps, ctx, "RedeemAuthorizationCode", fingerprinted, async ({ key, fp, pending }) => {
    requireKind(input.code, "authorization_code", "code", "an authorization code");
    await authenticateClient(deps, ctx, input.clientId, input.clientSecret);
    const known = await findByHash(deps, input.code, (hash) => deps.codes.findCode(hash));
    if (known === undefined) throw invalidGrant("authorization code not found", "code");
    const minted = pending ?? (await deps.idempotency.reserve(key, fp, mintPair()));
    const hash = (token: string): string => hashToken(deps.keyring.current, token);
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "grant", id: known.grantId },
      decider: grantDecider,
      msgId: key,
      build: async (grant, now, loaded) => ({
        type: "RedeemAuthorizationCode" as const,
        now,
        ...(await loadIssuingContext(deps, grant, loaded, input.clientId)),
        codeId: known.codeId,
        redirectUri: input.redirectUri,
        verifierChallenge,
        access: { tokenId: minted.access.id, hash: hash(minted.access.token), ttlMs: deps.tokens.accessTokenTtlSeconds * 1000 },
        refresh: { tokenId: minted.refresh.id, hash: hash(minted.refresh.token), ttlMs: deps.tokens.refreshTokenTtlSeconds * 1000 },
      }),
    });
    if (outcome.events.some((e) => e.type === "token.revoked")) {
      throw invalidGrant("authorization code was already used; every token issued from it is revoked", "code");
    }
    return tokensResult(outcome.state, minted, outcome.seq);
  });
}

export interface RefreshTokensInput {
  readonly refreshToken: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes: readonly string[];
}

export interface RefreshTokensResult extends OAuthTokensResult {
  /** True when this repeats the successor already issued for the presented token (grace period). */
  readonly grace: boolean;
}

/**
 * Refresh rotation with reuse detection (RFC 9700 §4.14.2). The presented token is consumed and its
 * successors join its family, in one `refresh.rotated`; a consumed token presented again revokes the
 * family in one `refresh.reuse_detected`. Concurrent refreshes of one token race on the grant's
 * subject: one rotation wins, the others re-decide against it (and are reuse, or grace answers).
 *
 * Grace period (off unless `refreshGraceSeconds` > 0): before appending, each attempt stashes its
 * minted successors sealed in the outcome store under (consumed token id, successor id), with the
 * store's TTL (≥ the grace period, enforced by config). A retry of the consumed token within the
 * grace period, while the successor is unused, gets the winner's stash back, at most
 * `refreshGraceMaxReuses` times per consumed token (first-writer-wins slots, exact across
 * processes), and nothing is appended.
 */
export function refreshTokens(deps: OAuthCommandDeps, ctx: CommandContext, input: RefreshTokensInput): Promise<RefreshTokensResult> {
  const fingerprinted = { ...input, refreshToken: hidden(deps, input.refreshToken), clientSecret: hidden(deps, input.clientSecret) };
  return idempotent<RefreshTokensResult, MintedPair>(deps, ctx, "RefreshTokens", fingerprinted, async ({ key, fp, pending }) => {
    requireKind(input.refreshToken, "refresh_token", "refresh_token", "a refresh token");
    await authenticateClient(deps, ctx, input.clientId, input.clientSecret);
    const known = await findByHash(deps, input.refreshToken, (hash) => deps.lookup.findToken(hash));
    if (known === undefined || known.kind !== "refresh_token") throw invalidGrant("refresh token not found", "refresh_token");
    const minted = pending ?? (await deps.idempotency.reserve(key, fp, mintPair()));
    const graceMs = deps.oauth.refreshGraceSeconds * 1000;
    const stashKey = (successorId: string): string => deps.idempotency.keyFor("", "RefreshSuccessor", `${known.tokenId}\u0000${successorId}`);
    // Before the append: a grace retry that sees this rotation in the log must find its plaintext.
    if (graceMs > 0) await deps.idempotency.stash(stashKey(minted.refresh.id), minted);
    let grace: { minted: MintedPair; sequence: number } | undefined;
    const hash = (token: string): string => hashToken(deps.keyring.current, token);
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "grant", id: known.grantId },
      decider: grantDecider,
      msgId: key,
      build: async (grant, now, loaded) => {
        grace = undefined;
        const successorId = graceSuccessor(grant, known.tokenId, now, graceMs);
        if (successorId !== undefined && successorId !== minted.refresh.id) {
          const stashed = await deps.idempotency.unstash<MintedPair>(stashKey(successorId));
          const budget = deps.idempotency.keyFor("", "RefreshGrace", known.tokenId);
          if (stashed !== undefined && (await deps.idempotency.claimSlot(budget, deps.oauth.refreshGraceMaxReuses))) {
            grace = { minted: stashed, sequence: loaded.version };
          }
        }
        return {
          type: "RefreshTokens" as const,
          now,
          ...(await loadIssuingContext(deps, grant, loaded, input.clientId)),
          tokenId: known.tokenId,
          scopes: input.scopes,
          access: { tokenId: minted.access.id, hash: hash(minted.access.token), ttlMs: deps.tokens.accessTokenTtlSeconds * 1000 },
          refresh: { tokenId: minted.refresh.id, hash: hash(minted.refresh.token), ttlMs: deps.tokens.refreshTokenTtlSeconds * 1000 },
          graceSuccessorId: grace === undefined ? null : (successorId ?? null),
        };
      },
    });
    if (outcome.events.some((e) => e.type === "refresh.reuse_detected")) {
      throw invalidGrant("refresh token was already used; its whole family is revoked", "refresh_token");
    }
    const ownRotation = outcome.state.consumed.get(known.tokenId)?.by === minted.refresh.id;
    if (!ownRotation && grace !== undefined) return { ...tokensResult(outcome.state, grace.minted, grace.sequence), grace: true };
    return { ...tokensResult(outcome.state, minted, outcome.seq), grace: false };
  });
}

export interface ClientCredentialsInput {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes: readonly string[];
}

export interface ClientCredentialsResult {
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly accessTokenId: string;
  readonly scopes: readonly string[];
  readonly sequence: number;
}

/**
 * RFC 6749 §4.4: an access token for the client itself, on the client's own grant (created by its
 * first use, its scopes following the client's allowed scopes), so introspection stays one point
 * lookup and RevokeGrant / RevokeClientTokens / SuspendClient cover these tokens as any other.
 */
export function clientCredentials(deps: OAuthCommandDeps, ctx: CommandContext, input: ClientCredentialsInput): Promise<ClientCredentialsResult> {
  const fingerprinted = { ...input, clientSecret: hidden(deps, input.clientSecret) };
  return idempotent<ClientCredentialsResult, Minted>(deps, ctx, "ClientCredentials", fingerprinted, async ({ key, fp, pending }) => {
    await authenticateClient(deps, ctx, input.clientId, input.clientSecret);
    const minted = pending ?? (await deps.idempotency.reserve(key, fp, { token: mintToken("access_token"), id: mintId("at") }));
    const grantId = clientGrantId(input.clientId);
    const outcome = await execute(deps, ctx, {
      aggregate: { kind: "grant", id: grantId },
      decider: grantDecider,
      msgId: key,
      build: async (_grant, now) => ({
        type: "IssueClientCredentials" as const,
        now,
        client: await loadClient(deps, input.clientId),
        grantId,
        scopes: input.scopes,
        access: {
          tokenId: minted.id,
          hash: hashToken(deps.keyring.current, minted.token),
          ttlMs: deps.oauth.clientCredentialsTtlSeconds * 1000,
        },
      }),
    });
    const token = outcome.state.tokens.get(minted.id);
    if (token === undefined) throw new Error("the decision did not record the minted access token");
    return {
      accessToken: minted.token,
      expiresIn: Math.max(0, Math.round((token.expiresAt - token.issuedAt) / 1000)),
      accessTokenId: minted.id,
      scopes: token.scopes,
      sequence: outcome.seq,
    };
  });
}
