import type { GrantState, GrantToken } from "./state.js";

/** Active and not past its expiry. */
export const isGrantActive = (state: GrantState, now: number): boolean =>
  state.status === "active" && (state.expiresAt === null || state.expiresAt > now);

/** Revoked by itself, with its family, or with its grant: expiry aside, it can never be active again. */
export const isTokenRevoked = (state: GrantState, token: GrantToken): boolean =>
  token.revoked || state.revokedFamilies.has(token.familyId) || state.status === "revoked";

/**
 * Whether the token is active as far as this grant can tell. The client's status and the subject's
 * watermark live in other aggregates; callers check those too (DESIGN.md "Active").
 */
export function isTokenActiveInGrant(state: GrantState, tokenId: string, now: number): boolean {
  const token = state.tokens.get(tokenId);
  return (
    token !== undefined && isGrantActive(state, now) && !isTokenRevoked(state, token) && !state.consumed.has(tokenId) && token.expiresAt > now
  );
}

/**
 * The refresh-token grace period (RFC 9700 §4.14.2 allows one for clients that lose a response):
 * the id of the successor a retry of the consumed `tokenId` may be given again, when it was rotated
 * at most `graceMs` ago and its successor is still unused and active. Undefined means: reuse.
 */
export function graceSuccessor(state: GrantState, tokenId: string, now: number, graceMs: number): string | undefined {
  const consumed = state.consumed.get(tokenId);
  if (consumed === undefined || graceMs <= 0 || now - consumed.at > graceMs) return undefined;
  return isTokenActiveInGrant(state, consumed.by, now) ? consumed.by : undefined;
}
