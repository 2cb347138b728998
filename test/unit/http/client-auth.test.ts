import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { presentedClient } from "../../../services/http/client-auth.js";
import { OAuthHttpError } from "../../../services/http/errors.js";

const request = (authorization?: string): IncomingMessage => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;
/** RFC 6749 §2.3.1: each part application/x-www-form-urlencoded, then joined and base64-encoded. */
const basic = (id: string, secret: string): string => {
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString("base64")}`;
};
const failure = (run: () => unknown): { status: number; code: string } => {
  try {
    run();
  } catch (error) {
    if (error instanceof OAuthHttpError) return { status: error.status, code: error.code };
    throw error;
  }
  throw new Error("expected a failure");
};

describe("presentedClient: exactly one client authentication method", () => {
  it("decodes form-encoded Basic credentials (a secret with ':', '+', '%' and spaces survives)", () => {
    const secret = "a:b+c%d e/=";
    expect(presentedClient(request(basic("cl_1", secret)), new Map())).toEqual({ clientId: "cl_1", clientSecret: secret, method: "client_secret_basic" });
  });

  it("takes client_secret_post, and client_id alone as none", () => {
    expect(presentedClient(request(), new Map([["client_id", "cl_1"], ["client_secret", "s"]]))).toMatchObject({ method: "client_secret_post" });
    expect(presentedClient(request(), new Map([["client_id", "cl_1"]]))).toEqual({ clientId: "cl_1", clientSecret: "", method: "none" });
  });

  it("accepts a body client_id next to Basic only when it agrees", () => {
    expect(presentedClient(request(basic("cl_1", "s")), new Map([["client_id", "cl_1"]])).method).toBe("client_secret_basic");
    expect(failure(() => presentedClient(request(basic("cl_1", "s")), new Map([["client_id", "cl_2"]])))).toEqual({ status: 400, code: "invalid_request" });
  });

  it("refuses two methods at once (400) and anything malformed or missing (401 invalid_client)", () => {
    expect(failure(() => presentedClient(request(basic("cl_1", "s")), new Map([["client_secret", "s"]])))).toEqual({ status: 400, code: "invalid_request" });
    for (const header of ["Bearer x", "Basic", "Basic !!!", `Basic ${Buffer.from("nocolon").toString("base64")}`, basic("cl_1", ""), basic("not an id", "s"), basic("%E0%A4%A", "s")]) {
      expect(failure(() => presentedClient(request(header), new Map())), header).toEqual({ status: 401, code: "invalid_client" });
    }
    expect(failure(() => presentedClient(request(), new Map()))).toEqual({ status: 401, code: "invalid_client" });
    expect(failure(() => presentedClient(request(), new Map([["client_id", "x".repeat(65)]])))).toEqual({ status: 401, code: "invalid_client" });
  });
});
