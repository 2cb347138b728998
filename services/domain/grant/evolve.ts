import { assertNever } from "../shared/decider.js";
import type { GrantEvent, IssuedToken } from "./events.js";
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
    case "token.issued":
      return { ...state, tokens: withTokens(state, event.data.tokens) };
    case "token.revoked": {
      let tokens = state.tokens;
      for (const tokenId of event.data.tokenIds) {
        const token = tokens.get(tokenId);
        if (token !== undefined) tokens = tokens.set(tokenId, { ...token, revoked: true } satisfies GrantToken);
      }
      const revokedFamilies = new Set([...state.revokedFamilies, ...event.data.familyIds]);
      return { ...state, tokens, revokedFamilies };
    }
    case "grant.created_for_client": {
      const { grantId, clientId, scopes, createdAt } = event.data;
      return { ...state, status: "active", kind: "client", grantId, subject: clientId, clientId, scopes, resources: [], expiresAt: null, createdAt };
    }
    case "grant.scopes_updated":
      return { ...state, scopes: event.data.scopes };
    case "code.issued": {
      const { codeId, hash, redirectUri, codeChallenge, scopes, issuedAt, expiresAt } = event.data;
      return { ...state, codes: state.codes.set(codeId, { hash, redirectUri, codeChallenge, scopes, issuedAt, expiresAt, redeemedFamily: null }) };
    }
    case "code.redeemed": {
      const code = state.codes.get(event.data.codeId);
      const familyId = event.data.tokens[0]?.familyId ?? null;
      const codes = code === undefined ? state.codes : state.codes.set(event.data.codeId, { ...code, redeemedFamily: familyId });
      return { ...state, codes, tokens: withTokens(state, event.data.tokens) };
    }
    case "refresh.rotated": {
      const successor = event.data.tokens.find((t) => t.kind === "refresh_token") ?? event.data.tokens[0];
      const consumed =
        successor === undefined ? state.consumed : state.consumed.set(event.data.consumedTokenId, { by: successor.tokenId, at: successor.issuedAt });
      return { ...state, consumed, tokens: withTokens(state, event.data.tokens) };
    }
    case "refresh.reuse_detected":
      return { ...state, revokedFamilies: new Set([...state.revokedFamilies, event.data.familyId]) };
    default:
      return assertNever(event, "grant event");
  }
}

function withTokens(state: GrantState, issued: readonly IssuedToken[]): GrantState["tokens"] {
  let tokens = state.tokens;
  for (const { tokenId, kind, familyId, scopes, issuedAt, expiresAt, hash } of issued) {
    tokens = tokens.set(tokenId, { kind, familyId, scopes, issuedAt, expiresAt, hash, revoked: false });
  }
  return tokens;
}
