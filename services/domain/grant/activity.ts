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
  return token !== undefined && isGrantActive(state, now) && !isTokenRevoked(state, token) && token.expiresAt > now;
}
