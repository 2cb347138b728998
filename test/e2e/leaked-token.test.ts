import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatToken } from "../../services/domain/shared/token-format.js";
import { AggregateKind } from "../../services/gen/grantledger/v1/audit_service.js";
import { actor } from "../support/grpc-clients.js";
import { clientAndGrant, expectRejectedWithoutAppend, introspect, issue, rid, startE2E, type E2E } from "../support/e2e-harness.js";

/** RevokeLeakedToken: secret-scanning partners report tokens; the answer never tells what was known. */
describe("e2e: RevokeLeakedToken", () => {
  let e2e: E2E;
  const md = actor("secret-scanner");
  beforeAll(async () => {
    e2e = await startE2E();
  });
  afterAll(async () => {
    await e2e?.stop();
  });
  const report = (token: string, source = "https://example.com/leak") =>
    e2e.api.revocation.revokeLeakedToken({ requestId: rid(), token, source }, md);

  it("a leaked access token takes its refresh family down; the event says it was reported as leaked", async () => {
    const f = await clientAndGrant(e2e.api);
    const leaked = await issue(e2e.api, f.grantId, { refresh: true });
    const sibling = await issue(e2e.api, f.grantId, { refresh: true });
    const before = await e2e.head();
    expect(await report(leaked.accessToken)).toEqual({});
    const head = await e2e.head();
    expect(head).toBe(before + 1);
    expect((await introspect(e2e.api, leaked.accessToken, head)).active).toBe(false);
    expect((await introspect(e2e.api, leaked.refreshToken, head)).active).toBe(false);
    // Other families under the same grant are untouched.
    expect((await introspect(e2e.api, sibling.accessToken, head)).active).toBe(true);
    const history = await e2e.api.audit.getHistory({ aggregate: { kind: AggregateKind.AGGREGATE_KIND_GRANT, id: f.grantId }, pageSize: 0, pageToken: "" }, md);
    const revoked = history.entries.flatMap((entry) => (entry.event === undefined ? [] : [entry.event])).filter((e) => e.type === "token.revoked");
    expect(revoked.length).toBe(1);
    expect(revoked[0]?.actor).toBe("secret-scanner");
    expect(revoked[0]?.payloadJson).toContain("access token reported as leaked");
    // Reported again: nothing more is appended, same answer.
    expect(await report(leaked.accessToken)).toEqual({});
    expect(await e2e.head()).toBe(head);
  });

  it("answers unknown, malformed and foreign-kind tokens exactly like known ones, appending nothing", async () => {
    const before = await e2e.head();
    for (const token of [formatToken("access_token", randomBytes(32)), formatToken("refresh_token", randomBytes(32)), formatToken("client_secret", randomBytes(32)), "gla_garbage", "not a token at all"]) {
      expect(await report(token)).toEqual({});
    }
    expect(await e2e.head()).toBe(before);
    await expectRejectedWithoutAppend(e2e, () => report(""), { code: status.INVALID_ARGUMENT, field: "token" });
    await expectRejectedWithoutAppend(e2e, () => report("gla_x", "x".repeat(3000)), { code: status.INVALID_ARGUMENT, field: "source" });
  });
});
