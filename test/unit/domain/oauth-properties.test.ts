import BetterSqlite3 from "better-sqlite3";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  clientDecider,
  fold,
  graceSuccessor,
  grantDecider,
  isDomainError,
  isTokenActiveInGrant,
  subjectDecider,
  type ClientCommand,
  type ClientEvent,
  type ClientState,
  type GrantCommand,
  type GrantEvent,
  type GrantState,
  type LedgerEvent,
} from "../../../services/domain/index.js";
import { createTokensProjection, TokensReadModel } from "../../../projections/tokens/index.js";
import { EnvelopeBuilder, MINUTE, T0 } from "../../support/envelopes.js";

/**
 * Random interleavings of issue / code / redeem / refresh (and reuse) / revoke / scope changes /
 * client and subject watermarks, decided by the real deciders and projected into the real tokens
 * read model. After every step the invariants must hold:
 * - no active token carries a scope outside its grant's (or its client's) current scopes;
 * - nothing is active after its grant, family, client (watermark) or subject was revoked, and a
 *   rotated-away refresh token is never active again;
 * - a code redeems at most once;
 * - the read model never calls active what the write model (the grant aggregate) does not.
 */

const ALL = ["a", "b", "c", "offline_access"];
const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const WRONG = "W".repeat(43);
const REDIRECT = "https://app.example/cb";

const scopes = fc.subarray(ALL);
const scopesNonEmpty = fc.subarray(ALL, { minLength: 1 });
const pick = fc.nat({ max: 50 });

type Op =
  | { op: "issue"; refresh: boolean; scopes: string[] }
  | { op: "code"; scopes: string[]; pkce: boolean }
  | { op: "redeem"; pick: number; verifierOk: boolean }
  | { op: "refresh"; pick: number; scopes: string[]; grace: boolean }
  | { op: "revokeToken"; pick: number }
  | { op: "revokeGrant" }
  | { op: "updateScopes"; scopes: string[] }
  | { op: "updateClient"; scopes: string[] }
  | { op: "revokeClientTokens" }
  | { op: "revokeSubject" }
  | { op: "tick"; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("issue" as const), refresh: fc.boolean(), scopes }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("code" as const), scopes, pkce: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant("redeem" as const), pick, verifierOk: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant("refresh" as const), pick, scopes, grace: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("revokeToken" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("revokeGrant" as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("updateScopes" as const), scopes: scopesNonEmpty }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("updateClient" as const), scopes: scopesNonEmpty }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("revokeClientTokens" as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("revokeSubject" as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("tick" as const), ms: fc.integer({ min: 1000, max: 2 * 3600_000 }) }) },
);

class World {
  readonly db = new BetterSqlite3(":memory:");
  readonly projection = createTokensProjection();
  readonly model: TokensReadModel;
  readonly envelopes = new EnvelopeBuilder();
  now = T0;
  client: ClientState;
  grant: GrantState;
  subjectRevokedAt: number | null = null;
  /** Every access/refresh token ever issued, and every code. */
  readonly tokens: string[] = [];
  readonly codes: string[] = [];
  readonly redemptions = new Map<string, number>();
  /** What must stay inactive forever. */
  killAll = false;
  readonly killedTokens = new Set<string>();
  readonly killedFamilies = new Set<string>();
  #n = 0;

  constructor() {
    this.projection.migrate(this.db);
    this.model = new TokensReadModel(this.db);
    const registered: ClientEvent = {
      type: "client.registered",
      data: { clientId: "cli_1", ownerAccount: "o", name: "App", redirectUris: [REDIRECT], allowedScopes: ALL, clientType: "public", secretHash: null },
    };
    const created: GrantEvent = {
      type: "grant.created",
      data: { grantId: "grt_1", subject: "user_1", clientId: "cli_1", scopes: ALL, resources: [], expiresAt: null, createdAt: T0 },
    };
    this.record([registered]);
    this.record([created]);
    this.client = fold(clientDecider, [registered]);
    this.grant = fold(grantDecider, [created]);
    this.now = T0 + MINUTE;
  }

  id(prefix: string): string {
    return `${prefix}_${++this.#n}`;
  }

  minted(prefix: string, ttlMs: number) {
    const tokenId = this.id(prefix);
    return { tokenId, hash: `k1:${tokenId}`, ttlMs };
  }

  record(events: LedgerEvent[]): void {
    const envelope = this.envelopes.next(events, { at: this.now });
    this.db.transaction(() => this.projection.apply(this.db, envelope))();
  }

  /** Decides on the grant; a rejection changes nothing. */
  grantCommand(command: GrantCommand): GrantEvent[] | undefined {
    let events: GrantEvent[];
    try {
      events = grantDecider.decide(command, this.grant);
    } catch (error) {
      if (isDomainError(error)) return undefined;
      throw error;
    }
    if (events.length === 0) return events;
    for (const event of events) this.checkIssuance(event);
    this.grant = fold(grantDecider, events, this.grant);
    this.record(events);
    for (const event of events) this.track(event);
    return events;
  }

  clientCommand(command: ClientCommand): void {
    let events: ClientEvent[];
    try {
      events = clientDecider.decide(command, this.client);
    } catch (error) {
      if (isDomainError(error)) return;
      throw error;
    }
    if (events.length === 0) return;
    this.client = fold(clientDecider, events, this.client);
    this.record(events);
    if (events.some((e) => e.type === "client.tokens_revoked")) {
      for (const id of this.tokens) this.killedFamilies.add(this.grant.tokens.get(id)?.familyId ?? id);
    }
  }

  /** Tokens are only ever issued within the grant's and the client's current scopes. */
  checkIssuance(event: GrantEvent): void {
    const issued = event.type === "token.issued" || event.type === "code.redeemed" || event.type === "refresh.rotated" ? event.data.tokens : [];
    for (const token of issued) {
      expect(token.scopes.length).toBeGreaterThan(0);
      for (const scope of token.scopes) {
        expect(this.grant.scopes).toContain(scope);
        expect(this.client.allowedScopes).toContain(scope);
      }
    }
  }

  track(event: GrantEvent): void {
    switch (event.type) {
      case "token.issued":
      case "code.redeemed":
      case "refresh.rotated":
        for (const token of event.data.tokens) this.tokens.push(token.tokenId);
        if (event.type === "code.redeemed") this.redemptions.set(event.data.codeId, (this.redemptions.get(event.data.codeId) ?? 0) + 1);
        break;
      case "code.issued":
        this.codes.push(event.data.codeId);
        break;
      case "token.revoked":
        for (const id of event.data.tokenIds) this.killedTokens.add(id);
        for (const family of event.data.familyIds) this.killedFamilies.add(family);
        break;
      case "refresh.reuse_detected":
        this.killedFamilies.add(event.data.familyId);
        break;
      case "grant.revoked":
        this.killAll = true;
        break;
      default:
        break;
    }
  }

  apply(step: Op): void {
    const ctx = { now: this.now, client: this.client, subjectRevokedAt: this.subjectRevokedAt };
    const refreshTokens = this.tokens.filter((id) => this.grant.tokens.get(id)?.kind === "refresh_token");
    const at = <T>(list: readonly T[], i: number): T | undefined => (list.length === 0 ? undefined : list[i % list.length]);
    switch (step.op) {
      case "issue":
        this.grantCommand({ type: "IssueTokens", ...ctx, scopes: step.scopes, access: this.minted("at", 3600_000), refresh: step.refresh ? this.minted("rt", 86_400_000) : null });
        break;
      case "code": {
        const codeId = this.id("ac");
        this.grantCommand({
          type: "IssueAuthorizationCode",
          ...ctx,
          codeId,
          hash: `k1:${codeId}`,
          ttlMs: 60_000,
          redirectUri: REDIRECT,
          codeChallenge: step.pkce ? CHALLENGE : null,
          scopes: step.scopes,
        });
        break;
      }
      case "redeem": {
        const codeId = at(this.codes, step.pick);
        if (codeId === undefined) break;
        const hasChallenge = this.grant.codes.get(codeId)?.codeChallenge !== null;
        this.grantCommand({
          type: "RedeemAuthorizationCode",
          ...ctx,
          codeId,
          redirectUri: REDIRECT,
          verifierChallenge: step.verifierOk ? (hasChallenge ? CHALLENGE : null) : WRONG,
          access: this.minted("at", 3600_000),
          refresh: this.minted("rt", 86_400_000),
        });
        break;
      }
      case "refresh": {
        const tokenId = at(refreshTokens, step.pick);
        if (tokenId === undefined) break;
        const successor = step.grace ? graceSuccessor(this.grant, tokenId, this.now, 30_000) : undefined;
        this.grantCommand({
          type: "RefreshTokens",
          ...ctx,
          tokenId,
          scopes: step.scopes,
          access: this.minted("at", 3600_000),
          refresh: this.minted("rt", 86_400_000),
          graceSuccessorId: successor ?? null,
        });
        break;
      }
      case "revokeToken": {
        const tokenId = at(this.tokens, step.pick);
        if (tokenId !== undefined) this.grantCommand({ type: "RevokeToken", now: this.now, tokenId, reason: "test" });
        break;
      }
      case "revokeGrant":
        this.grantCommand({ type: "RevokeGrant", now: this.now, reason: "test" });
        break;
      case "updateScopes":
        this.grantCommand({ type: "UpdateGrantScopes", now: this.now, client: this.client, scopes: step.scopes });
        break;
      case "updateClient":
        this.clientCommand({ type: "UpdateClient", now: this.now, allowedScopes: step.scopes });
        break;
      case "revokeClientTokens":
        this.clientCommand({ type: "RevokeClientTokens", now: this.now, reason: "test" });
        break;
      case "revokeSubject": {
        const events = subjectDecider.decide({ type: "RevokeSubject", now: this.now, subject: "user_1", reason: "test" }, fold(subjectDecider, []));
        this.record(events);
        this.subjectRevokedAt = this.now;
        this.killAll = true;
        break;
      }
      case "tick":
        this.now += step.ms;
        break;
    }
    this.now += 1000;
  }

  checkInvariants(): void {
    for (const count of this.redemptions.values()) expect(count).toBe(1);
    for (const tokenId of this.tokens) {
      const token = this.grant.tokens.get(tokenId);
      if (token === undefined) throw new Error(`token ${tokenId} missing from the grant`);
      const seen = this.model.introspect(token.hash, this.now);
      if (seen === undefined) continue;
      const why = `${tokenId} is active`;
      expect(this.killAll, `${why} after its grant or subject was revoked`).toBe(false);
      expect(this.killedTokens.has(tokenId), `${why} after it was revoked`).toBe(false);
      expect(this.killedFamilies.has(token.familyId), `${why} after its family or client was revoked`).toBe(false);
      expect(this.grant.consumed.has(tokenId), `${why} after it was rotated away`).toBe(false);
      expect(isTokenActiveInGrant(this.grant, tokenId, this.now), `${why} in the read model only`).toBe(true);
      expect(seen.scopes.length).toBeGreaterThan(0);
      for (const scope of seen.scopes) {
        expect(this.grant.scopes, `${why} with ${scope} outside its grant`).toContain(scope);
        expect(this.client.allowedScopes, `${why} with ${scope} outside its client`).toContain(scope);
        expect(token.scopes).toContain(scope);
      }
    }
  }
}

describe("OAuth flows: properties over random interleavings", () => {
  it("keep every token within its grant, nothing active after revocation, each code redeemed once", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
        const world = new World();
        try {
          for (const step of ops) {
            world.apply(step);
            world.checkInvariants();
          }
        } finally {
          world.db.close();
        }
      }),
      { numRuns: 200 },
    );
  });

  it("exercises every flow (the generator is not vacuous)", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 40 }), (ops) => {
        const world = new World();
        const record = world.record.bind(world);
        world.record = (events) => {
          for (const e of events) seen.add(e.type);
          record(events);
        };
        for (const step of ops) world.apply(step);
        world.db.close();
      }),
      // A fixed seed: this test checks the generator reaches every flow, which a random draw of 60 runs
      // occasionally does not (reuse needs a refresh of an already-rotated token).
      { numRuns: 60, seed: 20261127 },
    );
    for (const type of ["token.issued", "code.issued", "code.redeemed", "refresh.rotated", "refresh.reuse_detected", "token.revoked", "grant.scopes_updated", "client.updated", "client.tokens_revoked"]) {
      expect(seen, type).toContain(type);
    }
  });
});
