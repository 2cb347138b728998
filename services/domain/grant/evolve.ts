import { assertNever } from "../shared/decider.js";
import type { GrantEvent } from "./events.js";
import type { GrantState, GrantToken } from "./state.js";

/** Never mutates `state`: audit folds to past instants and keeps earlier states around. */
export function evolveGrant(state: GrantState, event: GrantEvent): GrantState {
  switch (event.type) {
    case "grant.created": {
      const { grantId, subject, clientId, scopes, resources, expiresAt, createdAt } = event.data;
      return { ...state, status: "active", grantId, subject, clientId, scopes, resources, expiresAt, createdAt };
    }
    case "grant.revoked":
      return { ...state, status: "revoked", revokedReason: event.data.reason };
    case "token.issued": {
      const tokens = new Map(state.tokens);
      for (const { tokenId, kind, familyId, scopes, issuedAt, expiresAt, hash } of event.data.tokens) {
        tokens.set(tokenId, { kind, familyId, scopes, issuedAt, expiresAt, hash, revoked: false });
      }
      return { ...state, tokens };
    }
    case "token.revoked": {
      const tokens = new Map(state.tokens);
      for (const tokenId of event.data.tokenIds) {
        const token = tokens.get(tokenId);
        if (token !== undefined) tokens.set(tokenId, { ...token, revoked: true } satisfies GrantToken);
      }
      const revokedFamilies = new Set([...state.revokedFamilies, ...event.data.familyIds]);
      return { ...state, tokens, revokedFamilies };
    }
    default:
      return assertNever(event, "grant event");
  }
}
