import type { ClientEvent, ClientState, GrantEvent, IssueTokens } from "../../../services/domain/index.js";
import { clientDecider, fold } from "../../../services/domain/index.js";

export const T0 = 1_700_000_000_000;
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

export const registered = (overrides: Partial<Extract<ClientEvent, { type: "client.registered" }>["data"]> = {}): ClientEvent => ({
  type: "client.registered",
  data: {
    clientId: "cli_1",
    ownerAccount: "acct_1",
    name: "Budget App",
    redirectUris: ["https://app.example/cb"],
    allowedScopes: ["accounts:read", "openid", "payments:write"],
    clientType: "confidential",
    secretHash: "scrypt$16384$8$1$c2FsdA$aGFzaA",
    ...overrides,
  },
});

export const clientIn = (...events: ClientEvent[]): ClientState => fold(clientDecider, events);
export const activeClient = clientIn(registered());
export const suspendedClient = clientIn(registered(), { type: "client.suspended", data: { clientId: "cli_1", reason: "abuse" } });
export const deletedClient = clientIn(registered(), { type: "client.deleted", data: { clientId: "cli_1", reason: "closed" } });

export const grantCreated = (overrides: Partial<Extract<GrantEvent, { type: "grant.created" }>["data"]> = {}): GrantEvent => ({
  type: "grant.created",
  data: {
    grantId: "grt_1",
    subject: "user_1",
    clientId: "cli_1",
    scopes: ["accounts:read", "openid"],
    resources: ["acct_checking"],
    expiresAt: T0 + 30 * 24 * HOUR,
    createdAt: T0,
    ...overrides,
  },
});

export const grantRevoked: GrantEvent = { type: "grant.revoked", data: { grantId: "grt_1", reason: "user" } };

export const issueTokens = (overrides: Partial<IssueTokens> = {}): IssueTokens => ({
  type: "IssueTokens",
  now: T0 + MINUTE,
  client: activeClient,
  subjectRevokedAt: null,
  scopes: [],
  access: { tokenId: "at_1", hash: "k1:access-hash-1", ttlMs: HOUR },
  refresh: { tokenId: "rt_1", hash: "k1:refresh-hash-1", ttlMs: 30 * 24 * HOUR },
  ...overrides,
});

/** The event `issueTokens()` produces against `grantCreated()`. */
export const tokensIssued = (at = T0 + MINUTE, n = 1): GrantEvent => ({
  type: "token.issued",
  data: {
    grantId: "grt_1",
    tokens: [
      {
        tokenId: `at_${n}`,
        kind: "access_token",
        hash: `k1:access-hash-${n}`,
        familyId: `rt_${n}`,
        scopes: ["accounts:read", "openid"],
        issuedAt: at,
        expiresAt: at + HOUR,
      },
      {
        tokenId: `rt_${n}`,
        kind: "refresh_token",
        hash: `k1:refresh-hash-${n}`,
        familyId: `rt_${n}`,
        scopes: ["accounts:read", "openid"],
        issuedAt: at,
        expiresAt: T0 + 30 * 24 * HOUR,
      },
    ],
  },
});
