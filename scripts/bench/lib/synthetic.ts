import { createHash } from "node:crypto";
import type { LedgerEvent } from "../../../services/domain/events.js";
import type { AggregateRef } from "../../../services/eventlog/types.js";

/**
 * A deterministic synthetic history for the catch-up benchmark: message i is always the same, so
 * the projection, the raw reader and the raw inserter all see the same rows.
 *
 * Shape: the first CLIENTS messages register clients; then blocks of BLOCK messages, one per grant:
 * `grant.created`, then `token.issued` (an access + refresh pair each); every 20th grant ends with a
 * `token.revoked` of its first family, every 50th with a `grant.revoked`.
 */
export const CLIENTS = 10;
export const BLOCK = 10;
const SCOPES = ["account:read", "zone:read", "dns:read", "offline_access"];
const BASE_TIME = 1_800_000_000_000;
const FAR = BASE_TIME + 10 * 365 * 86_400_000;

export interface SyntheticMessage {
  readonly aggregate: AggregateRef;
  readonly at: number;
  readonly events: LedgerEvent[];
}

const id = (prefix: string, n: number): string => `${prefix}_${n.toString(36).padStart(22, "0")}`;
const hash = (n: number, kind: string): string => `k1:${createHash("sha256").update(`${kind}${n}`).digest("base64url")}`;

/** Message `i` (0-based) of the synthetic history. */
export function syntheticMessage(i: number): SyntheticMessage {
  const at = BASE_TIME + i;
  if (i < CLIENTS) {
    const clientId = id("cl", i);
    return {
      aggregate: { kind: "client", id: clientId },
      at,
      events: [
        {
          type: "client.registered",
          data: {
            clientId,
            ownerAccount: `acct-${i}`,
            name: `App ${i}`,
            redirectUris: ["https://app.example/callback"],
            allowedScopes: SCOPES,
            clientType: "confidential",
            secretHash: "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
          },
        },
      ],
    };
  }
  const j = i - CLIENTS;
  const g = Math.floor(j / BLOCK);
  const k = j % BLOCK;
  const grantId = id("gr", g);
  const aggregate: AggregateRef = { kind: "grant", id: grantId };
  if (k === 0) {
    return {
      aggregate,
      at,
      events: [
        {
          type: "grant.created",
          data: { grantId, subject: `user-${g}`, clientId: id("cl", g % CLIENTS), scopes: SCOPES, resources: [`acct-${g}`], expiresAt: null, createdAt: at },
        },
      ],
    };
  }
  if (k === BLOCK - 1 && g % 50 === 49) {
    return { aggregate, at, events: [{ type: "grant.revoked", data: { grantId, reason: "bench" } }] };
  }
  if (k === BLOCK - 1 && g % 20 === 19) {
    return {
      aggregate,
      at,
      events: [{ type: "token.revoked", data: { grantId, tokenIds: [], familyIds: [id("fa", i - (BLOCK - 2))], reason: "bench" } }],
    };
  }
  const familyId = id("fa", i);
  return {
    aggregate,
    at,
    events: [
      {
        type: "token.issued",
        data: {
          grantId,
          tokens: [
            { tokenId: id("at", i), kind: "access_token", hash: hash(i, "a"), familyId, scopes: SCOPES, issuedAt: at, expiresAt: FAR },
            { tokenId: id("rt", i), kind: "refresh_token", hash: hash(i, "r"), familyId, scopes: SCOPES, issuedAt: at, expiresAt: FAR },
          ],
        },
      },
    ],
  };
}
