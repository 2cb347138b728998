import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  concurrencyConflict,
  illegalState,
  notFound,
  permissionDenied,
  resourceExhausted,
  unauthenticated,
  unavailable,
  validationError,
} from "../../../services/domain/shared/errors.js";
import { toHttpError } from "../../../services/http/errors.js";

const mapped = (error: unknown) => {
  const http = toHttpError(error);
  return { status: http.status, code: http.code, headers: http.headers };
};

describe("toHttpError: the domain's closed error family as RFC 6749 §5.2 answers", () => {
  it("maps every kind to one status and an OAuth error", () => {
    expect(mapped(validationError("bad", { oauthCode: "invalid_scope" }))).toMatchObject({ status: 400, code: "invalid_scope" });
    expect(mapped(validationError("bad"))).toMatchObject({ status: 400, code: "invalid_request" });
    expect(mapped(illegalState("used", { oauthCode: "invalid_grant" }))).toMatchObject({ status: 400, code: "invalid_grant" });
    expect(mapped(illegalState("public", { oauthCode: "unauthorized_client" }))).toMatchObject({ status: 400, code: "unauthorized_client" });
    expect(mapped(notFound("no grant"))).toMatchObject({ status: 400, code: "invalid_grant" });
    expect(mapped(permissionDenied("policy"))).toMatchObject({ status: 403, code: "access_denied" });
    expect(mapped(z.object({ a: z.string() }).safeParse({}).error)).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("says invalid_client with 401 and a Basic challenge, also for a suspended or unknown client", () => {
    for (const error of [unauthenticated("wrong secret", { oauthCode: "invalid_client" }), illegalState("client is suspended", { oauthCode: "invalid_client" }), notFound("client not found", { oauthCode: "invalid_client" })]) {
      expect(mapped(error)).toEqual({ status: 401, code: "invalid_client", headers: { "www-authenticate": 'Basic realm="grant-ledger", charset="UTF-8"' } });
    }
  });

  it("asks to retry later for exhausted budgets, contention and a stale read model; hides anything else", () => {
    expect(mapped(resourceExhausted("budget", { oauthCode: "invalid_client" }))).toEqual({ status: 429, code: "invalid_client", headers: { "retry-after": "1" } });
    expect(mapped(concurrencyConflict("race"))).toEqual({ status: 503, code: "temporarily_unavailable", headers: { "retry-after": "1" } });
    expect(mapped(unavailable("stale"))).toEqual({ status: 503, code: "temporarily_unavailable", headers: { "retry-after": "1" } });
    const hidden = toHttpError(new Error("SQLITE_CORRUPT at /data/secret/path"));
    expect({ status: hidden.status, code: hidden.code, message: hidden.message }).toEqual({ status: 500, code: "server_error", message: "internal error" });
  });
});
