import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Metadata } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createKeyring } from "../../../services/crypto/keys.js";
import { formatToken } from "../../../services/domain/shared/token-format.js";
import { isDomainError } from "../../../services/domain/shared/errors.js";
import { CallerGate, certificateIdentity } from "../../../services/grpc/auth.js";
import { ApiKeyVerifier, createApiKey, revokeApiKeys } from "../../../services/security/api-keys.js";
import { LEDGER_METHODS, normalizePermission, qualifiedMethod } from "../../../services/security/methods.js";
import { Policy, servesAny } from "../../../services/security/policy.js";
import { RateLimiter } from "../../../services/security/rate-limit.js";

const dir = mkdtempSync(join(tmpdir(), "gl-sec-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keyring = createKeyring({ id: "k1", secret: randomBytes(32) });

const policy = Policy.parse({
  roles: { rs: ["IntrospectionService/Introspect"], front: ["grantledger.v1.ClientService/*"], all: ["*"] },
  callers: {
    "rs-1": { roles: ["rs"], resources: ["acct-1", "zone-*"], rateLimits: { introspect: { perSecond: 1, burst: 2 } } },
    front: { roles: ["front"] },
    ops: { roles: ["all"] },
  },
});

describe("authorization policy", () => {
  it("knows every RPC and normalizes permissions", () => {
    expect(LEDGER_METHODS).toContain("IntrospectionService/Introspect");
    expect(LEDGER_METHODS).toContain("AuditService/ReplayEvents");
    expect(qualifiedMethod("RevokeGrant")).toBe("RevocationService/RevokeGrant");
    expect(normalizePermission("grantledger.v1.TokenService/*")).toBe("TokenService/*");
    expect(normalizePermission("TokenService/Nope")).toBeUndefined();
    expect(normalizePermission("Nope/*")).toBeUndefined();
  });

  it("denies by default and grants only what roles name", () => {
    expect(policy.allows("rs-1", "IntrospectionService/Introspect")).toBe(true);
    expect(policy.allows("rs-1", "RevocationService/RevokeGrant")).toBe(false);
    expect(policy.allows("front", "ClientService/RegisterClient")).toBe(true);
    expect(policy.allows("front", "GrantService/CreateGrant")).toBe(false);
    expect(policy.allows("ops", "AuditService/GetHistory")).toBe(true);
    expect(policy.allows("nobody", "IntrospectionService/Introspect")).toBe(false);
  });

  it("rejects a policy naming an unknown RPC or role, or with unknown keys, naming the entry", () => {
    expect(() => Policy.parse({ roles: { r: ["IntrospectionService/Introspct"] }, callers: {} })).toThrow(/roles\.r\.0.*names no RPC/s);
    expect(() => Policy.parse({ roles: { r: ["*"] }, callers: { a: { roles: ["q"] } } })).toThrow(/callers\.a\.roles\.0: unknown role "q"/);
    expect(() => Policy.parse({ roles: {}, callers: {}, extra: 1 })).toThrow(/invalid policy/);
    expect(() => Policy.parse({ roles: { r: ["*"] }, callers: { "bad id!": { roles: ["r"] } } })).toThrow(/callers\.bad id!/);
  });

  it("matches resources exactly or by prefix*", () => {
    expect(servesAny(["acct-1", "zone-*"], ["acct-1"])).toBe(true);
    expect(servesAny(["acct-1", "zone-*"], ["x", "zone-42"])).toBe(true);
    expect(servesAny(["acct-1", "zone-*"], ["acct-10"])).toBe(false);
    expect(servesAny(["acct-1"], [])).toBe(false);
  });
});

describe("rate limiter", () => {
  it("allows the burst, then the refill rate; 0 turns it off", () => {
    const limiter = new RateLimiter();
    const rate = { perSecond: 2, burst: 3 };
    expect([0, 0, 0, 0].map(() => limiter.take("a", rate, 1000))).toEqual([true, true, true, false]);
    expect(limiter.take("b", rate, 1000)).toBe(true);
    expect(limiter.take("a", rate, 1500)).toBe(true);
    expect(limiter.take("a", rate, 1500)).toBe(false);
    expect(Array.from({ length: 100 }, () => limiter.take("c", { perSecond: 0, burst: 1 }, 0)).every(Boolean)).toBe(true);
  });

  it("takes a batch's count at once, or none of it", () => {
    const limiter = new RateLimiter();
    const rate = { perSecond: 10, burst: 100 };
    expect(limiter.take("a", rate, 0, 60)).toBe(true);
    // 40 left: a batch of 41 is refused and takes nothing, so 40 singles still pass.
    expect(limiter.take("a", rate, 0, 41)).toBe(false);
    expect(limiter.take("a", rate, 0, 40)).toBe(true);
    expect(limiter.take("a", rate, 0)).toBe(false);
    // Refilled at 10/s: 2 s later, 20.
    expect(limiter.take("a", rate, 2000, 21)).toBe(false);
    expect(limiter.take("a", rate, 2000, 20)).toBe(true);
  });

  it("keeps at most maxKeys buckets", () => {
    const limiter = new RateLimiter(2);
    const rate = { perSecond: 0.001, burst: 1 };
    expect(limiter.take("a", rate, 0)).toBe(true);
    limiter.take("b", rate, 0);
    limiter.take("c", rate, 0); // evicts a
    expect(limiter.take("a", rate, 0)).toBe(true);
  });

  it("evicts the least recently used key, a key used again in a row included", () => {
    const limiter = new RateLimiter(2);
    const rate = { perSecond: 0.001, burst: 1 };
    limiter.take("a", rate, 0);
    limiter.take("b", rate, 0);
    limiter.take("b", rate, 0); // already the most recent
    limiter.take("a", rate, 0); // a moves after b
    limiter.take("c", rate, 0); // evicts b, not a
    expect(limiter.take("a", rate, 0)).toBe(false);
    expect(limiter.take("b", rate, 0)).toBe(true);
  });
});

describe("API keys", () => {
  it("stores only a keyed hash; verifies format, checksum and revocation; sees changes on reload", () => {
    const file = join(dir, "callers.json");
    const { id, key } = createApiKey(file, keyring, "svc-a");
    const verifier = new ApiKeyVerifier(file, keyring, { reloadMs: 0 });
    const now = Date.now();
    expect(verifier.verify(key, now)).toBe("svc-a");
    expect(verifier.verify(key.slice(0, -1) + (key.endsWith("A") ? "B" : "A"), now)).toBeUndefined();
    expect(verifier.verify(formatToken("api_key", randomBytes(32)), now)).toBeUndefined();
    expect(verifier.verify("glk_short", now)).toBeUndefined();
    expect(revokeApiKeys(file, id)).toBe(1);
    expect(verifier.verify(key, now + 1)).toBeUndefined();
  });

  it("keeps the loaded keys when the file turns invalid, and reports it", () => {
    const file = join(dir, "callers-2.json");
    const { key } = createApiKey(file, keyring, "svc-b");
    const errors: unknown[] = [];
    const verifier = new ApiKeyVerifier(file, keyring, { reloadMs: 0, onError: (e) => errors.push(e) });
    writeFileSync(file, "{ not json");
    expect(verifier.verify(key, Date.now() + 1)).toBe("svc-b");
    expect(errors.length).toBe(1);
  });
});

describe("caller gate", () => {
  const logger = pino({ level: "silent" });
  const rates = { introspect: { perSecond: 0, burst: 1 }, secretChecks: { perSecond: 0, burst: 1 } };
  const call = (headers: Record<string, string>, cert?: object) => {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    return { metadata, getAuthContext: () => (cert === undefined ? {} : { transportSecurityType: "ssl", sslPeerCertificate: cert }) } as never;
  };
  const kind = (fn: () => unknown): string => {
    try {
      fn();
      return "ok";
    } catch (error) {
      return isDomainError(error) ? error.kind : "other";
    }
  };

  it("takes the identity from the certificate (CN, else SAN), never from x-actor, outside insecure dev", () => {
    const gate = new CallerGate({ insecureDev: false, policy, rates, logger });
    expect(gate.admit(call({ "x-actor": "ops" }, { subject: { CN: "front" } }), "RegisterClient", 0).identity).toBe("front");
    expect(kind(() => gate.admit(call({ "x-actor": "ops" }), "RegisterClient", 0))).toBe("unauthenticated");
    expect(kind(() => gate.admit(call({ authorization: "Bearer nope" }, { subject: { CN: "front" } }), "RegisterClient", 0))).toBe("unauthenticated");
    expect(kind(() => gate.admit(call({}, { subject: { CN: "front" } }), "Introspect", 0))).toBe("permission_denied");
    expect(certificateIdentity({ sslPeerCertificate: { subject: {}, subjectaltname: "DNS:svc.internal, URI:x" } as never })).toBe("svc.internal");
    expect(certificateIdentity({})).toBeUndefined();
  });

  it("rate limits per caller and passes on its resources", () => {
    const gate = new CallerGate({ insecureDev: false, policy, rates, logger });
    const rs = call({}, { subject: { CN: "rs-1" } });
    expect(gate.admit(rs, "Introspect", 0).resources).toEqual(["acct-1", "zone-*"]);
    expect(kind(() => gate.admit(rs, "Introspect", 0))).toBe("ok");
    expect(kind(() => gate.admit(rs, "Introspect", 0))).toBe("resource_exhausted");
  });

  it("charges IntrospectBatch one unit per token from the Introspect bucket, and says when a batch exceeds the burst", () => {
    const batchPolicy = Policy.parse({
      roles: { gw: ["IntrospectionService/*"] },
      callers: { gw: { roles: ["gw"], rateLimits: { introspect: { perSecond: 0.001, burst: 10 } } } },
    });
    const gate = new CallerGate({ insecureDev: false, policy: batchPolicy, rates, logger });
    const gw = call({}, { subject: { CN: "gw" } });
    expect(kind(() => gate.admit(gw, "IntrospectBatch", 0, 8))).toBe("ok");
    expect(kind(() => gate.admit(gw, "IntrospectBatch", 0, 3))).toBe("resource_exhausted");
    expect(kind(() => gate.admit(gw, "Introspect", 0))).toBe("ok");
    expect(kind(() => gate.admit(gw, "Introspect", 0))).toBe("ok");
    expect(kind(() => gate.admit(gw, "Introspect", 0))).toBe("resource_exhausted");
    expect(() => gate.admit(gw, "IntrospectBatch", 0, 11)).toThrow(/11 tokens, more than its introspection burst of 10/);
    // The policy grants methods one by one: Introspect alone does not allow IntrospectBatch.
    expect(kind(() => gate.admit(call({}, { subject: { CN: "rs-1" } }), "IntrospectBatch", 0, 1))).toBe("permission_denied");
  });

  it("under insecure dev without a policy: x-actor (or anonymous) may call everything; without insecure dev and policy: nothing", () => {
    const dev = new CallerGate({ insecureDev: true, rates, logger });
    expect(dev.admit(call({ "x-actor": "me" }), "RevokeGrant", 0)).toMatchObject({ identity: "me", via: "insecure_dev" });
    expect(dev.admit(call({}), "RevokeGrant", 0).identity).toBe("anonymous");
    const locked = new CallerGate({ insecureDev: false, rates, logger });
    expect(kind(() => locked.admit(call({}, { subject: { CN: "ops" } }), "GetClient", 0))).toBe("permission_denied");
  });
});

describe("the shipped example policy", () => {
  it("parses", () => {
    const example = Policy.load(join(import.meta.dirname, "../../../config/policy.example.json"));
    expect(example.allows("dns-api", "IntrospectionService/Introspect")).toBe(true);
    expect(example.allows("dns-api", "ClientService/RegisterClient")).toBe(false);
  });
});
