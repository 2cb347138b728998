import { describe, expect, it } from "vitest";
import { issueTokens, revokeGrant, revokeToken } from "../../../services/commands/index.js";
import { grantDecider } from "../../../services/domain/grant/index.js";
import { DomainError } from "../../../services/domain/shared/errors.js";
import type { AggregateRef, RecordedEnvelope } from "../../../services/eventlog/types.js";
import { commandProcess, ctx, shared } from "./harness.js";
import { clientAndGrant, issueInput } from "./setup.js";

const grantRef = (id: string): AggregateRef => ({ kind: "grant", id });

/** Every message's prev is the previous message's hash: one chain, no fork. */
function expectSingleChain(envelopes: readonly RecordedEnvelope[]): void {
  expect(envelopes[0]?.prev).toBeNull();
  for (let i = 1; i < envelopes.length; i++) expect(envelopes[i]?.prev).toBe(envelopes[i - 1]?.hash);
}

describe("execute: optimistic concurrency", () => {
  it("re-decides after another process appended between this one's load and append", async () => {
    const s = shared();
    const other = commandProcess(s);
    let inject: (() => Promise<unknown>) | undefined;
    const self = commandProcess(s, {
      beforeAppend: async () => {
        const run = inject;
        inject = undefined;
        await run?.();
      },
    });
    const { grantId, grantSeq } = await clientAndGrant(self);
    const before = self.log.requests.length;
    let otherSeq = 0;
    inject = async () => (otherSeq = (await issueTokens(other.deps, ctx(), issueInput(grantId))).sequence);

    const issued = await issueTokens(self.deps, ctx(), issueInput(grantId));

    const attempts = self.log.requests.slice(before);
    expect(attempts.map((r) => r.expectedVersion)).toEqual([grantSeq, otherSeq]);
    expect(self.log.stats.conflicts).toBe(1);
    const envelopes = await s.log.readAggregate(grantRef(grantId));
    expect(envelopes.map((e) => e.events.map((ev) => ev.type))).toEqual([["grant.created"], ["token.issued"], ["token.issued"]]);
    expect(envelopes.map((e) => e.seq)).toEqual([grantSeq, otherSeq, issued.sequence]);
    // The retry was decided against the reloaded state: it chains onto the other process's message.
    expect(attempts[1]?.prev).toBe(envelopes[1]?.hash);
    expectSingleChain(envelopes);
    console.log(`[occ] conflicts=${self.log.stats.conflicts} attempts=${attempts.length} chain=${envelopes.map((e) => e.seq).join("→")}`);
  });

  it("re-decides into a rejection when the concurrent append revoked the grant: no token after the revocation", async () => {
    const s = shared();
    const other = commandProcess(s);
    let inject: (() => Promise<unknown>) | undefined;
    const self = commandProcess(s, {
      beforeAppend: async () => {
        const run = inject;
        inject = undefined;
        await run?.();
      },
    });
    const { grantId } = await clientAndGrant(self);
    const head = await s.log.headSequence();
    inject = () => revokeGrant(other.deps, ctx(), { grantId, reason: "user revoked" });

    await expect(issueTokens(self.deps, ctx(), issueInput(grantId))).rejects.toMatchObject({
      kind: "illegal_state",
      oauthCode: "invalid_grant",
    });
    expect(self.log.stats.conflicts).toBe(1);
    expect(await s.log.headSequence()).toBe(head + 1);
    const last = (await s.log.readAggregate(grantRef(grantId))).at(-1);
    expect(last?.events[0]?.type).toBe("grant.revoked");
  });

  it("gives up with a DomainError conflict after `retries` re-decisions, having appended nothing", async () => {
    const s = shared();
    const other = commandProcess(s);
    const hammer: { grantId?: string } = {};
    const self = commandProcess(s, {
      retries: 3,
      beforeAppend: async (request) => {
        // Before every attempt of this command, another process moves the grant on.
        const id = hammer.grantId;
        if (id !== undefined && request.aggregate.id === id) await issueTokens(other.deps, ctx(), issueInput(id, false));
      },
    });
    const { grantId } = await clientAndGrant(self);
    const before = self.log.requests.length;
    const appendsBefore = self.log.stats.appends;
    hammer.grantId = grantId;

    const error: unknown = await issueTokens(self.deps, ctx(), issueInput(grantId)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ kind: "conflict" });
    expect(self.log.requests.length - before).toBe(4);
    expect(self.log.stats.conflicts).toBe(4);
    expect(self.log.stats.appends).toBe(appendsBefore);
    // Only the other process's four messages follow the grant's creation.
    const envelopes = await s.log.readAggregate(grantRef(grantId));
    expect(envelopes).toHaveLength(5);
    expectSingleChain(envelopes);
    console.log(`[occ] retries=3 → attempts=${self.log.requests.length - before}, conflicts=${self.log.stats.conflicts}, error=${(error as Error).message}`);
  });
});

describe("execute: aggregate cache", () => {
  it("drops a stale entry on conflict, reloads from the log, and caches the appended version and hash", async () => {
    const s = shared();
    const other = commandProcess(s);
    let inject: (() => Promise<unknown>) | undefined;
    const seen: Array<number | undefined> = [];
    const self: ReturnType<typeof commandProcess> = commandProcess(s, {
      beforeAppend: async (request) => {
        seen.push(self.deps.aggregates.cached(request.aggregate)?.version);
        const run = inject;
        inject = undefined;
        await run?.();
      },
    });
    const { grantId, grantSeq } = await clientAndGrant(self);
    expect(self.deps.aggregates.cached(grantRef(grantId))?.version).toBe(grantSeq);
    let otherSeq = 0;
    inject = async () => (otherSeq = (await issueTokens(other.deps, ctx(), issueInput(grantId))).sequence);
    seen.length = 0;

    const issued = await issueTokens(self.deps, ctx(), issueInput(grantId));

    // First attempt: the stale cached version; second: the entry reloaded from the log after the conflict.
    expect(seen).toEqual([grantSeq, otherSeq]);
    const cached = self.deps.aggregates.cached<{ tokens: ReadonlyMap<string, unknown> }>(grantRef(grantId));
    const last = (await s.log.readAggregate(grantRef(grantId))).at(-1);
    expect(cached?.version).toBe(issued.sequence);
    expect(cached?.lastHash).toBe(last?.hash);
    expect(cached?.state.tokens.has(issued.accessTokenId)).toBe(true);
    expect(cached?.state.tokens.size).toBe(4);
  });

  it("forgets the entry when the append turned out to be a duplicate (its hash is unknown)", async () => {
    const s = shared();
    const a = commandProcess(s);
    const b = commandProcess(s);
    const { grantId } = await clientAndGrant(a);
    await b.deps.aggregates.load(grantRef(grantId), grantDecider);
    // The same request reaches two processes at once (a client retrying on a timeout).
    const same = ctx();
    const [x, y] = await Promise.all([issueTokens(a.deps, same, issueInput(grantId)), issueTokens(b.deps, same, issueInput(grantId))]);
    expect(x).toEqual(y);
    expect(a.log.stats.duplicates + b.log.stats.duplicates).toBe(1);
    const dup = a.log.stats.duplicates === 1 ? a : b;
    expect(dup.deps.aggregates.cached(grantRef(grantId))).toBeUndefined();
    expect((await s.log.readAggregate(grantRef(grantId))).length).toBe(2);
  });

  it("a cached active grant never lets a token through after another process revoked it", async () => {
    const s = shared();
    const a = commandProcess(s);
    const b = commandProcess(s);
    const { grantId } = await clientAndGrant(a);
    await issueTokens(a.deps, ctx(), issueInput(grantId));
    expect(a.deps.aggregates.cached<{ status: string }>(grantRef(grantId))?.state.status).toBe("active");
    await revokeGrant(b.deps, ctx(), { grantId, reason: "elsewhere" });
    await expect(issueTokens(a.deps, ctx(), issueInput(grantId))).rejects.toMatchObject({ kind: "illegal_state", oauthCode: "invalid_grant" });
    expect(a.log.stats.conflicts).toBe(1);
    expect(a.deps.aggregates.cached<{ status: string }>(grantRef(grantId))?.state.status).toBe("revoked");
  });

  it("a rejection decided on a stale cached state is re-checked against the log (RevokeToken of a token another process issued)", async () => {
    const s = shared();
    const a = commandProcess(s);
    const b = commandProcess(s);
    const { grantId } = await clientAndGrant(a);
    // b caches the grant by working on it, then a issues a token b's cache does not know.
    await issueTokens(b.deps, ctx(), issueInput(grantId));
    const issued = await issueTokens(a.deps, ctx(), issueInput(grantId, false));
    const revoked = await revokeToken(b.deps, ctx(), { token: issued.accessToken }).catch((e: unknown) => e);
    console.log(`[cache] RevokeToken through the process with a stale cache → ${revoked instanceof Error ? `rejected: ${revoked.message}` : JSON.stringify(revoked)}`);
    expect(revoked).toEqual({ sequence: (await s.log.headSequence()) });
    const last = (await s.log.readAggregate(grantRef(grantId))).at(-1);
    expect(last?.events[0]).toMatchObject({ type: "token.revoked", data: { tokenIds: [issued.accessTokenId] } });
  });
});
