import { describe, expect, it } from "vitest";
import { createGrant, issueTokens, registerClient, revokeGrant, revokeToken } from "../../../services/commands/index.js";
import { createKeyring } from "../../../services/crypto/keys.js";
import { hashToken } from "../../../services/crypto/keys.js";
import { unseal } from "../../../services/crypto/sealed.js";
import { unavailable } from "../../../services/domain/shared/errors.js";
import { createMemoryOutcomeStore, outcomeKey } from "../../../services/eventlog/index.js";
import { commandProcess, ctx, shared, testKeyring } from "./harness.js";
import { clientAndGrant, issueInput } from "./setup.js";

/** Every stored message body, as text: what an attacker with the log would see. */
async function logText(log: { headSequence(): Promise<number>; get(seq: number): Promise<unknown> }): Promise<string> {
  const head = await log.headSequence();
  const out: string[] = [];
  for (let seq = 1; seq <= head; seq++) out.push(JSON.stringify(await log.get(seq)));
  return out.join("\n");
}

const contains = (bytes: Uint8Array, secret: string): boolean => {
  const buffer = Buffer.from(bytes);
  return [secret, Buffer.from(secret).toString("base64"), Buffer.from(secret).toString("base64url"), Buffer.from(secret).toString("hex")].some(
    (form) => buffer.includes(form),
  );
};

describe("dedupe: same request, same answer, one message", () => {
  it("answers a repeated IssueTokens with the same tokens and sequence and appends nothing (same process, then a fresh one)", async () => {
    const s = shared();
    const p = commandProcess(s);
    const { grantId } = await clientAndGrant(p);
    const request = ctx();
    const first = await issueTokens(p.deps, request, issueInput(grantId));
    const head = await s.log.headSequence();
    const again = await issueTokens(p.deps, request, issueInput(grantId));
    // Another process (empty cache) sharing the outcome store, as after a restart.
    const fresh = commandProcess(s);
    const elsewhere = await issueTokens(fresh.deps, request, issueInput(grantId));
    expect(again).toEqual(first);
    expect(elsewhere).toEqual(first);
    expect(await s.log.headSequence()).toBe(head);
    expect(p.log.stats.appends + fresh.log.stats.appends).toBe(3); // client, grant, the one issue
  });

  it("refuses a request_id reused for a different request, appending nothing", async () => {
    const s = shared();
    const p = commandProcess(s);
    const { grantId } = await clientAndGrant(p);
    const request = ctx();
    await issueTokens(p.deps, request, issueInput(grantId));
    const head = await s.log.headSequence();
    await expect(issueTokens(p.deps, request, { ...issueInput(grantId), scopes: ["dns:read"] })).rejects.toMatchObject({
      kind: "validation",
      field: "request_id",
    });
    expect(await s.log.headSequence()).toBe(head);
  });

  it("two processes racing the same request append once and answer the same", async () => {
    const s = shared();
    const a = commandProcess(s);
    const b = commandProcess(s);
    const { grantId } = await clientAndGrant(a);
    const head = await s.log.headSequence();
    const request = ctx();
    const answers = await Promise.all([
      issueTokens(a.deps, request, issueInput(grantId)),
      issueTokens(b.deps, request, issueInput(grantId)),
      issueTokens(b.deps, request, issueInput(grantId)),
    ]);
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    expect(await s.log.headSequence()).toBe(head + 1);
  });

  it("a CreateGrant retried after its outcome was lost still names the same grant: the log's msgId dedupe answers", async () => {
    const s = shared();
    const p = commandProcess(s);
    const { clientId } = await clientAndGrant(p);
    const request = ctx();
    const input = { subject: "user-2", clientId, scopes: ["zone:read"], resources: [], expiresAt: null };
    const first = await createGrant(p.deps, request, input);
    const head = await s.log.headSequence();
    // A fresh process with an empty outcome store: only the log remembers the request.
    const amnesiac = commandProcess({ log: s.log, outcomes: createMemoryOutcomeStore() });
    expect(await createGrant(amnesiac.deps, request, input)).toEqual(first);
    expect(amnesiac.log.stats.duplicates).toBe(1);
    expect(await s.log.headSequence()).toBe(head);
  });

  describe("the process dies after the append, before recording the answer; the caller retries elsewhere", () => {
    it("RegisterClient: same client id and secret, one message", async () => {
      const s = shared();
      const p = commandProcess(s);
      const request = ctx();
      const input = { ownerAccount: "a", name: "n", redirectUris: ["https://x.example/cb"], allowedScopes: ["zone:read"], clientType: "confidential" as const };
      s.outcomes.failPuts = true;
      const first = await registerClient(p.deps, request, input);
      s.outcomes.failPuts = false;
      const retry = await registerClient(commandProcess(s).deps, request, input);
      expect(retry).toEqual(first);
      expect(await s.log.headSequence()).toBe(1);
    });

    it("IssueTokens: the very same tokens and sequence, one message", async () => {
      const s = shared();
      const p = commandProcess(s);
      const { grantId } = await clientAndGrant(p);
      const request = ctx();
      s.outcomes.failPuts = true;
      const first = await issueTokens(p.deps, request, issueInput(grantId));
      s.outcomes.failPuts = false;
      const head = await s.log.headSequence();
      const retry = await issueTokens(commandProcess(s).deps, request, issueInput(grantId)).catch((e: unknown) => e);
      console.log(`[dedupe] IssueTokens retry after a lost outcome → ${retry instanceof Error ? `rejected: ${retry.message}` : "same answer"}`);
      expect(retry).toEqual(first);
      expect(await s.log.headSequence()).toBe(head);
    });

    it("RevokeGrant: the same sequence, one message", async () => {
      const s = shared();
      const p = commandProcess(s);
      const { grantId } = await clientAndGrant(p);
      const request = ctx();
      s.outcomes.failPuts = true;
      const first = await revokeGrant(p.deps, request, { grantId, reason: "r" });
      s.outcomes.failPuts = false;
      const head = await s.log.headSequence();
      const retry = await revokeGrant(commandProcess(s).deps, request, { grantId, reason: "r" }).catch((e: unknown) => e);
      console.log(`[dedupe] RevokeGrant retry after a lost outcome → ${retry instanceof Error ? `rejected: ${retry.message}` : "same answer"}`);
      expect(retry).toEqual(first);
      expect(await s.log.headSequence()).toBe(head);
    });

    it("RevokeToken: the same sequence, one message", async () => {
      const s = shared();
      const p = commandProcess(s);
      const { grantId } = await clientAndGrant(p);
      const issued = await issueTokens(p.deps, ctx(), issueInput(grantId, false));
      const request = ctx();
      s.outcomes.failPuts = true;
      const first = await revokeToken(p.deps, request, { token: issued.accessToken });
      s.outcomes.failPuts = false;
      expect(first.sequence).toBeGreaterThan(0);
      const head = await s.log.headSequence();
      const retry = await revokeToken(commandProcess(s).deps, request, { token: issued.accessToken });
      expect(retry).toEqual(first);
      expect(await s.log.headSequence()).toBe(head);
    });
  });
});

describe("minting commands claim their record with one create", () => {
  it("a new IssueTokens records its tokens with one create and reads nothing; a retry reads its answer", async () => {
    const s = shared();
    const p = commandProcess(s);
    const { grantId } = await clientAndGrant(p);
    const gets = s.outcomes.gets;
    const written = s.outcomes.written.length;
    const request = ctx();
    const first = await issueTokens(p.deps, request, issueInput(grantId));
    expect(s.outcomes.gets).toBe(gets);
    expect(s.outcomes.written.length).toBe(written + 2); // the claim (create), then the answer (put)
    const again = await issueTokens(p.deps, request, issueInput(grantId));
    expect(again).toEqual(first);
    expect(s.outcomes.gets).toBe(gets + 1);
  });

  it("a retry after an attempt that failed before its append issues the tokens that attempt minted", async () => {
    const s = shared();
    const { grantId } = await clientAndGrant(commandProcess(s));
    const request = ctx();
    const attempted: string[] = [];
    const failing = commandProcess(s, {
      beforeAppend: async (append) => {
        for (const e of append.events) if (e.type === "token.issued") attempted.push(...e.data.tokens.map((t) => t.hash));
        throw unavailable("simulated: the log went away before the append");
      },
    });
    await expect(issueTokens(failing.deps, request, issueInput(grantId))).rejects.toMatchObject({ kind: "unavailable" });
    expect(attempted).toHaveLength(2);
    const retry = await issueTokens(commandProcess(s).deps, request, issueInput(grantId));
    const key = testKeyring().current;
    expect([hashToken(key, retry.accessToken), hashToken(key, retry.refreshToken)]).toEqual(attempted);
  });

  it("a request_id reused for another request is refused on the claim path too, appending nothing", async () => {
    const s = shared();
    const p = commandProcess(s);
    const { grantId } = await clientAndGrant(p);
    const request = ctx();
    // The first attempt fails (unknown grant) after its claim: its record holds only minted values.
    await expect(issueTokens(p.deps, request, issueInput("gr_unknown"))).rejects.toMatchObject({ kind: "not_found" });
    const head = await s.log.headSequence();
    await expect(issueTokens(p.deps, request, issueInput(grantId))).rejects.toMatchObject({ kind: "validation", field: "request_id" });
    expect(await s.log.headSequence()).toBe(head);
  });
});

describe("idempotency store: sealed copies, never plaintext", () => {
  it("stores issued tokens and client secrets only sealed (AES-GCM, bound to the request key); the log holds neither", async () => {
    const s = shared();
    const keyring = testKeyring();
    const p = commandProcess({ ...s, keyring });
    const client = await registerClient(p.deps, ctx(), {
      ownerAccount: "a",
      name: "n",
      redirectUris: ["https://x.example/cb"],
      allowedScopes: ["zone:read", "offline_access"],
      clientType: "confidential",
    });
    const grant = await createGrant(p.deps, ctx(), { subject: "u", clientId: client.clientId, scopes: ["zone:read"], resources: [], expiresAt: null });
    const request = ctx();
    const issued = await issueTokens(p.deps, request, issueInput(grant.grantId));
    await new Promise((r) => setImmediate(r)); // `remember` is not awaited by the command
    const secrets = [client.clientSecret, issued.accessToken, issued.refreshToken];
    expect(secrets.every((x) => x.length > 20)).toBe(true);

    expect(s.outcomes.written.length).toBeGreaterThanOrEqual(5);
    for (const bytes of s.outcomes.written) for (const secret of secrets) expect(contains(bytes, secret)).toBe(false);
    const text = await logText(s.log);
    for (const secret of secrets) expect(text.includes(secret)).toBe(false);

    // The sealed record does hold the tokens (that is how a retry gets them back), readable only with the key.
    const key = p.deps.idempotency.keyFor(request.actor, "IssueTokens", request.requestId);
    const stored = await s.outcomes.get(key);
    expect(stored).toBeDefined();
    const opened = Buffer.from(unseal(keyring.outcomeKey, key, stored as Uint8Array)).toString("utf8");
    expect(opened).toContain(issued.accessToken);
    expect(() => unseal(createKeyring({ id: "k2", secret: Buffer.alloc(32, 9) }).outcomeKey, key, stored as Uint8Array)).toThrow();
    // Bound to its request: a record copied under another request's key does not open.
    expect(() => unseal(keyring.outcomeKey, `${key}x`, stored as Uint8Array)).toThrow();
    expect(outcomeKey(key)).not.toBe(key);
  });

  it("a tampered record is refused, never answered from", async () => {
    const s = shared();
    const p = commandProcess(s);
    const { grantId } = await clientAndGrant(p);
    const request = ctx();
    await issueTokens(p.deps, request, issueInput(grantId));
    await new Promise((r) => setImmediate(r));
    const key = p.deps.idempotency.keyFor(request.actor, "IssueTokens", request.requestId);
    const stored = (await s.outcomes.get(key)) as Uint8Array;
    const tampered = stored.slice();
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
    await s.outcomes.put(key, tampered);
    await expect(issueTokens(p.deps, request, issueInput(grantId))).rejects.toThrow();
  });

  it("the outcome store alone never holds a record from a request of another actor", async () => {
    const s = shared();
    const p = commandProcess(s);
    const { grantId } = await clientAndGrant(p);
    const a = await issueTokens(p.deps, ctx("same-id", "alice"), issueInput(grantId));
    const b = await issueTokens(p.deps, ctx("same-id", "bob"), issueInput(grantId));
    expect(b.accessToken).not.toBe(a.accessToken);
    expect(b.sequence).toBeGreaterThan(a.sequence);
  });
});

