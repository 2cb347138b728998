import { describe, expect, it } from "vitest";
import { type ClientCommand, clientDecider, type ClientEvent, fold, initialClientState } from "../../../services/domain/index.js";
import { decider } from "../../support/decider-spec.js";
import { registered, T0 } from "./fixtures.js";

const spec = decider(clientDecider);

const register = (overrides: Partial<Extract<ClientCommand, { type: "RegisterClient" }>> = {}): ClientCommand => ({
  type: "RegisterClient",
  now: T0,
  clientId: "cli_1",
  ownerAccount: "acct_1",
  name: "Budget App",
  redirectUris: ["https://app.example/cb"],
  allowedScopes: ["payments:write", "openid", "accounts:read", "openid"],
  clientType: "confidential",
  secretHash: "scrypt$16384$8$1$c2FsdA$aGFzaA",
  ...overrides,
});

const statusChange = (type: "SuspendClient" | "ReinstateClient" | "DeleteClient", reason = "ops"): ClientCommand => ({
  type,
  now: T0,
  clientId: "cli_1",
  reason,
});

const suspended: ClientEvent = { type: "client.suspended", data: { clientId: "cli_1", reason: "abuse" } };
const reinstated: ClientEvent = { type: "client.reinstated", data: { clientId: "cli_1", reason: "appeal" } };
const deleted: ClientEvent = { type: "client.deleted", data: { clientId: "cli_1", reason: "closed" } };

describe("RegisterClient", () => {
  it("registers a confidential client with its scopes normalized", () => {
    spec.given([]).when(register()).then([registered()]);
  });

  it("registers a public client without a secret, dropping duplicate redirect URIs", () => {
    spec
      .given([])
      .when(register({ clientType: "public", secretHash: null, redirectUris: ["com.example.app:/cb", "com.example.app:/cb"] }))
      .then([registered({ clientType: "public", secretHash: null, redirectUris: ["com.example.app:/cb"] })]);
  });

  it.each([
    ["active", [registered()]],
    ["suspended", [registered(), suspended]],
    ["deleted", [registered(), deleted]],
  ])("rejects registering over a %s client", (_status, given) => {
    spec.given(given).when(register()).thenThrows({ kind: "illegal_state", oauthCode: "invalid_request" });
  });

  it("rejects a confidential client without a secret hash", () => {
    spec.given([]).when(register({ secretHash: null })).thenThrows({ kind: "validation", field: "client_type" });
  });

  it("rejects a public client with a secret hash", () => {
    spec.given([]).when(register({ clientType: "public" })).thenThrows({ kind: "validation", field: "client_type" });
  });

  it.each([
    ["client_id", { clientId: "" }],
    ["owner_account", { ownerAccount: "" }],
    ["name", { name: "  " }],
  ])("rejects a missing %s", (field, overrides) => {
    spec.given([]).when(register(overrides)).thenThrows({ kind: "validation", field });
  });

  it.each([
    ["a relative URI", "/callback"],
    ["a URI with a fragment", "https://app.example/cb#frag"],
  ])("rejects %s as a redirect URI, naming it by index", (_what, uri) => {
    spec
      .given([])
      .when(register({ redirectUris: ["https://app.example/cb", uri] }))
      .thenThrows({ kind: "validation", field: "redirect_uris[1]", oauthCode: "invalid_request" });
  });
});

describe("SuspendClient", () => {
  it("suspends an active client", () => {
    spec.given([registered()]).when(statusChange("SuspendClient", "abuse")).then([suspended]);
  });

  it("does not find an unregistered client", () => {
    spec.given([]).when(statusChange("SuspendClient")).thenThrows({ kind: "not_found", field: "client_id" });
  });

  it.each([
    ["suspended", [registered(), suspended]],
    ["deleted", [registered(), deleted]],
  ])("rejects suspending a %s client", (_status, given) => {
    spec.given(given).when(statusChange("SuspendClient")).thenThrows({ kind: "illegal_state", oauthCode: "invalid_client" });
  });
});

describe("ReinstateClient", () => {
  it("reinstates a suspended client", () => {
    spec.given([registered(), suspended]).when(statusChange("ReinstateClient", "appeal")).then([reinstated]);
  });

  it("does not find an unregistered client", () => {
    spec.given([]).when(statusChange("ReinstateClient")).thenThrows({ kind: "not_found", field: "client_id" });
  });

  it.each([
    ["active", [registered()]],
    ["reinstated", [registered(), suspended, reinstated]],
    ["deleted", [registered(), suspended, deleted]],
  ])("rejects reinstating a %s client", (_status, given) => {
    spec.given(given).when(statusChange("ReinstateClient")).thenThrows({ kind: "illegal_state", oauthCode: "invalid_client" });
  });
});

describe("DeleteClient", () => {
  it("deletes an active client", () => {
    spec.given([registered()]).when(statusChange("DeleteClient", "closed")).then([deleted]);
  });

  it("deletes a suspended client", () => {
    spec.given([registered(), suspended]).when(statusChange("DeleteClient", "closed")).then([deleted]);
  });

  it("does not find an unregistered client", () => {
    spec.given([]).when(statusChange("DeleteClient")).thenThrows({ kind: "not_found", field: "client_id" });
  });

  it("rejects deleting a deleted client", () => {
    spec.given([registered(), deleted]).when(statusChange("DeleteClient")).thenThrows({ kind: "illegal_state", oauthCode: "invalid_client" });
  });
});

describe("client evolve", () => {
  it("starts unregistered", () => {
    expect(clientDecider.initialState).toBe(initialClientState);
    expect(initialClientState.status).toBe("unregistered");
  });

  it("takes every field from client.registered", () => {
    expect(fold(clientDecider, [registered()])).toEqual({
      status: "active",
      clientId: "cli_1",
      ownerAccount: "acct_1",
      name: "Budget App",
      redirectUris: ["https://app.example/cb"],
      allowedScopes: ["accounts:read", "openid", "payments:write"],
      clientType: "confidential",
      secretHash: "scrypt$16384$8$1$c2FsdA$aGFzaA",
      previousSecretHash: null,
      previousSecretValidUntil: null,
      tokensRevokedAt: null,
    });
  });

  it.each([
    [[suspended], "suspended"],
    [[suspended, reinstated], "active"],
    [[suspended, deleted], "deleted"],
    [[deleted], "deleted"],
  ] as const)("folds status changes %# to %s, keeping the registration", (changes, status) => {
    const state = fold(clientDecider, [registered(), ...changes]);
    expect(state).toEqual({ ...fold(clientDecider, [registered()]), status });
  });

  it("does not mutate the previous state", () => {
    const active = fold(clientDecider, [registered()]);
    const snapshot = structuredClone(active);
    clientDecider.evolve(active, suspended);
    expect(active).toEqual(snapshot);
  });
});
