import { createHash, randomUUID } from "node:crypto";
import type { EventOf, LedgerEvent } from "../../services/domain/events.js";
import type { IssuedToken } from "../../services/domain/grant/events.js";
import type { AggregateRef, EventLog, RecordedEnvelope } from "../../services/eventlog/types.js";

/** A fixed instant tests start from (2023-11-14T22:13:20Z). */
export const T0 = 1_700_000_000_000;
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

/** The aggregate an event belongs to (the subject it is appended on). */
export function aggregateOf(event: LedgerEvent): AggregateRef {
  switch (event.type) {
    case "client.registered":
    case "client.suspended":
    case "client.reinstated":
    case "client.deleted":
    case "client.updated":
    case "client.secret_rotated":
    case "client.tokens_revoked":
      return { kind: "client", id: event.data.clientId };
    case "grant.created":
    case "grant.revoked":
    case "token.issued":
    case "token.revoked":
    case "grant.created_for_client":
    case "grant.scopes_updated":
    case "code.issued":
    case "code.redeemed":
    case "refresh.rotated":
    case "refresh.reuse_detected":
      return { kind: "grant", id: event.data.grantId };
    case "subject.revoked":
      return { kind: "subject", id: event.data.subject };
    case "checkpoint.signed":
      return { kind: "checkpoint", id: "log" };
  }
}

// ---- events -------------------------------------------------------------------------------------

export const clientRegistered = (
  clientId: string,
  overrides: Partial<EventOf<"client.registered">["data"]> = {},
): EventOf<"client.registered"> => ({
  type: "client.registered",
  data: {
    clientId,
    ownerAccount: "acct-owner",
    name: `App ${clientId}`,
    redirectUris: ["https://app.example/cb"],
    allowedScopes: ["profile:read", "repo:read", "repo:write"],
    clientType: "confidential",
    secretHash: "scrypt$16384$8$1$c2FsdA$aGFzaA",
    ...overrides,
  },
});

export const clientSuspended = (clientId: string, reason = "abuse report"): EventOf<"client.suspended"> => ({
  type: "client.suspended",
  data: { clientId, reason },
});

export const clientReinstated = (clientId: string, reason = "resolved"): EventOf<"client.reinstated"> => ({
  type: "client.reinstated",
  data: { clientId, reason },
});

export const clientDeleted = (clientId: string, reason = "owner deleted it"): EventOf<"client.deleted"> => ({
  type: "client.deleted",
  data: { clientId, reason },
});

export const grantCreated = (
  grantId: string,
  overrides: Partial<EventOf<"grant.created">["data"]> = {},
): EventOf<"grant.created"> => ({
  type: "grant.created",
  data: {
    grantId,
    subject: "user-1",
    clientId: "client-1",
    scopes: ["profile:read", "repo:read"],
    resources: ["acct:1"],
    expiresAt: null,
    createdAt: T0,
    ...overrides,
  },
});

export const grantRevoked = (grantId: string, reason = "user revoked consent"): EventOf<"grant.revoked"> => ({
  type: "grant.revoked",
  data: { grantId, reason },
});

/** A token to issue: `tokenId` names it, the hash and the rest default from it. */
export const issued = (tokenId: string, overrides: Partial<IssuedToken> = {}): IssuedToken => ({
  tokenId,
  kind: "access_token",
  hash: hashOf(tokenId),
  familyId: `fam-${tokenId}`,
  scopes: ["profile:read"],
  issuedAt: T0,
  expiresAt: T0 + HOUR,
  ...overrides,
});

/** The keyed hash `issued(tokenId)` gets, shaped like a real one: `<kid>:<base64url of 32 bytes>`. */
export const hashOf = (tokenId: string): string => `k1:${createHash("sha256").update(tokenId).digest("base64url")}`;

export const tokenIssued = (grantId: string, tokens: IssuedToken[]): EventOf<"token.issued"> => ({
  type: "token.issued",
  data: { grantId, tokens },
});

export const tokenRevoked = (
  grantId: string,
  revoke: { tokenIds?: string[]; familyIds?: string[]; reason?: string },
): EventOf<"token.revoked"> => ({
  type: "token.revoked",
  data: {
    grantId,
    tokenIds: revoke.tokenIds ?? [],
    familyIds: revoke.familyIds ?? [],
    reason: revoke.reason ?? "revoked by client",
  },
});

export const subjectRevoked = (subject: string, reason = "signed out everywhere", revokedAt = T0): EventOf<"subject.revoked"> => ({
  type: "subject.revoked",
  data: { subject, reason, revokedAt },
});

// ---- envelopes ----------------------------------------------------------------------------------

export interface EnvelopeOverrides {
  seq?: number;
  at?: number;
  actor?: string;
}

/**
 * Builds RecordedEnvelopes with consecutive sequences (from 1) and a clock that advances one second
 * per envelope, as a log would record them; the aggregate comes from the first event.
 */
export class EnvelopeBuilder {
  #seq: number;
  #at: number;
  readonly #prev = new Map<string, string>();

  constructor(options: { seq?: number; at?: number } = {}) {
    this.#seq = options.seq ?? 0;
    this.#at = options.at ?? T0;
  }

  /** Sequence of the last envelope built. */
  get seq(): number {
    return this.#seq;
  }

  next(events: LedgerEvent | readonly LedgerEvent[], overrides: EnvelopeOverrides = {}): RecordedEnvelope {
    const list = Array.isArray(events) ? (events as readonly LedgerEvent[]) : [events as LedgerEvent];
    const first = list[0];
    if (first === undefined) throw new Error("an envelope needs at least one event");
    this.#seq = overrides.seq ?? this.#seq + 1;
    this.#at = overrides.at ?? this.#at + 1000;
    const aggregate = aggregateOf(first);
    const key = `${aggregate.kind}.${aggregate.id}`;
    const hash = `sha-${this.#seq}`;
    const prev = this.#prev.get(key) ?? null;
    this.#prev.set(key, hash);
    return {
      seq: this.#seq,
      eventId: randomUUID(),
      at: this.#at,
      actor: overrides.actor ?? "tester",
      requestId: randomUUID(),
      aggregate,
      prev,
      hash,
      storedAt: this.#at,
      events: list,
    };
  }
}

// ---- appending to a real log --------------------------------------------------------------------

/**
 * Appends events to an EventLog as command handlers would: one message per call, on the first
 * event's aggregate, with the aggregate's current version and hash chain.
 */
export class LogWriter {
  readonly #log: EventLog;
  readonly #versions = new Map<string, { seq: number; hash: string | null }>();
  #at: number;

  constructor(log: EventLog, at = T0) {
    this.#log = log;
    this.#at = at;
  }

  async append(events: LedgerEvent | readonly LedgerEvent[], actor = "tester"): Promise<number> {
    const list = Array.isArray(events) ? (events as readonly LedgerEvent[]) : [events as LedgerEvent];
    const first = list[0];
    if (first === undefined) throw new Error("an envelope needs at least one event");
    const aggregate = aggregateOf(first);
    const key = `${aggregate.kind}.${aggregate.id}`;
    const last = this.#versions.get(key);
    const requestId = randomUUID();
    this.#at += 1000;
    const result = await this.#log.append({
      aggregate,
      expectedVersion: last?.seq ?? 0,
      msgId: `req:${requestId}`,
      meta: { eventId: randomUUID(), at: this.#at, actor, requestId },
      prev: last?.hash ?? null,
      events: list,
    });
    this.#versions.set(key, { seq: result.seq, hash: result.hash });
    return result.seq;
  }
}
