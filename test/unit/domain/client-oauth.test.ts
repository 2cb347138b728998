import { describe, expect, it } from "vitest";
import { clientDecider, fold, type ClientCommand, type ClientEvent } from "../../../services/domain/index.js";
import { decider } from "../../support/decider-spec.js";
import { registered, T0, MINUTE } from "./fixtures.js";

/** Given/when/then for the client commands issue 3 adds: UpdateClient, RotateClientSecret, RevokeClientTokens. */
const spec = decider(clientDecider);
const suspended: ClientEvent = { type: "client.suspended", data: { clientId: "cli_1", reason: "abuse" } };
const deleted: ClientEvent = { type: "client.deleted", data: { clientId: "cli_1", reason: "closed" } };
const publicRegistered = registered({ clientType: "public", secretHash: null });

describe("UpdateClient", () => {
  const update = (fields: Partial<Extract<ClientCommand, { type: "UpdateClient" }>>): ClientCommand => ({ type: "UpdateClient", now: T0, ...fields });

  it("changes what is given and keeps the rest, scopes normalized", () => {
    spec
      .given([registered()])
      .when(update({ allowedScopes: ["openid", "accounts:read", "openid"] }))
      .then([
        {
          type: "client.updated",
          data: { clientId: "cli_1", name: "Budget App", redirectUris: ["https://app.example/cb"], allowedScopes: ["accounts:read", "openid"] },
        },
      ]);
    spec
      .given([registered(), suspended])
      .when(update({ name: "Budget", redirectUris: ["https://a.example/cb", "https://a.example/cb"] }))
      .then([
        {
          type: "client.updated",
          data: { clientId: "cli_1", name: "Budget", redirectUris: ["https://a.example/cb"], allowedScopes: ["accounts:read", "openid", "payments:write"] },
        },
      ]);
  });

  it("appends nothing when nothing changes", () => {
    spec.given([registered()]).when(update({ name: "Budget App" })).thenNothing();
  });

  it.each<[string, ClientEvent[], Partial<Extract<ClientCommand, { type: "UpdateClient" }>>, object]>([
    ["an unknown client", [], { name: "x" }, { kind: "not_found" }],
    ["a deleted client", [registered(), deleted], { name: "x" }, { kind: "illegal_state", oauthCode: "invalid_client" }],
    ["an empty name", [registered()], { name: " " }, { kind: "validation", field: "name" }],
    ["no allowed scope", [registered()], { allowedScopes: [] }, { kind: "validation", field: "allowed_scopes" }],
    ["a redirect URI with a fragment", [registered()], { redirectUris: ["https://a.example/cb#x"] }, { kind: "validation", field: "redirect_uris[0]" }],
  ])("rejects %s", (_what, given, fields, expected) => {
    spec.given(given).when(update(fields)).thenThrows(expected);
  });
});

describe("RotateClientSecret", () => {
  const rotate = (overlapMs: number): ClientCommand => ({ type: "RotateClientSecret", now: T0, secretHash: "scrypt$new", overlapMs });

  it("replaces the secret; the previous one ends at once without an overlap", () => {
    const event: ClientEvent = { type: "client.secret_rotated", data: { clientId: "cli_1", secretHash: "scrypt$new", previousSecretValidUntil: null } };
    spec.given([registered()]).when(rotate(0)).then([event]);
    expect(fold(clientDecider, [registered(), event])).toMatchObject({ secretHash: "scrypt$new", previousSecretHash: null, previousSecretValidUntil: null });
  });

  it("keeps the previous secret for the overlap window", () => {
    const event: ClientEvent = { type: "client.secret_rotated", data: { clientId: "cli_1", secretHash: "scrypt$new", previousSecretValidUntil: T0 + MINUTE } };
    spec.given([registered()]).when(rotate(MINUTE)).then([event]);
    expect(fold(clientDecider, [registered(), event])).toMatchObject({
      secretHash: "scrypt$new",
      previousSecretHash: "scrypt$16384$8$1$c2FsdA$aGFzaA",
      previousSecretValidUntil: T0 + MINUTE,
    });
  });

  it.each<[string, ClientEvent[], number, object]>([
    ["a public client", [publicRegistered], 0, { kind: "illegal_state", oauthCode: "invalid_client" }],
    ["a deleted client", [registered(), deleted], 0, { kind: "illegal_state" }],
    ["an unknown client", [], 0, { kind: "not_found" }],
    ["a negative overlap", [registered()], -1, { kind: "validation", field: "overlap_seconds" }],
  ])("rejects %s", (_what, given, overlap, expected) => {
    spec.given(given).when(rotate(overlap)).thenThrows(expected);
  });
});

describe("RevokeClientTokens", () => {
  const revoke = (now = T0): ClientCommand => ({ type: "RevokeClientTokens", now, reason: "leaked" });

  it("appends one watermark, never moving backwards", () => {
    const first: ClientEvent = { type: "client.tokens_revoked", data: { clientId: "cli_1", reason: "leaked", revokedAt: T0 } };
    spec.given([registered()]).when(revoke()).then([first]);
    spec
      .given([registered(), first])
      .when(revoke(T0 - MINUTE))
      .then([{ type: "client.tokens_revoked", data: { clientId: "cli_1", reason: "leaked", revokedAt: T0 } }]);
    expect(fold(clientDecider, [registered(), first]).tokensRevokedAt).toBe(T0);
  });

  it("works on a suspended client without changing its status", () => {
    const event: ClientEvent = { type: "client.tokens_revoked", data: { clientId: "cli_1", reason: "leaked", revokedAt: T0 } };
    spec.given([registered(), suspended]).when(revoke()).then([event]);
    expect(fold(clientDecider, [registered(), event]).status).toBe("active");
  });

  it.each<[string, ClientEvent[], object]>([
    ["an unknown client", [], { kind: "not_found" }],
    ["a deleted client", [registered(), deleted], { kind: "illegal_state" }],
  ])("rejects %s", (_what, given, expected) => {
    spec.given(given).when(revoke()).thenThrows(expected);
  });
});
