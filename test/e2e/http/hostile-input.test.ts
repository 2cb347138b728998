import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { basic, FORM, raw, registerClient, startHttpE2E, type RawResponse } from "./support.js";

type World = Awaited<ReturnType<typeof startHttpE2E>>;

function expectInvalidRequest(res: RawResponse, status = 400): void {
  expect({ status: res.status, error: res.json?.["error"] }).toEqual({ status, error: "invalid_request" });
  expect(res.headers["cache-control"]).toBe("no-store");
}

/** Writes raw bytes on a socket and returns what came back until the server closed or 2 s passed. */
function rawSocket(issuer: string, bytes: string | Buffer): Promise<string> {
  const url = new URL(issuer);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.end(bytes));
    let out = "";
    socket.on("data", (c: Buffer) => (out += c.toString("latin1")));
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
    setTimeout(() => socket.destroy(), 2000).unref();
  });
}

describe("HTTP OAuth endpoints: hostile input gets the RFC error, never a crash", () => {
  let world: World;
  let auth: { authorization: string };

  beforeAll(async () => {
    world = await startHttpE2E({ httpMaxBodyBytes: 4096 });
    const app = await registerClient(world, "confidential");
    auth = { authorization: basic(app.clientId, app.clientSecret) };
  });
  afterAll(async () => world?.stop());

  const tokenPost = (body: string | Buffer, headers: Record<string, string> = {}) =>
    raw(world.issuer, "/oauth2/token", { headers: { ...FORM, ...auth, ...headers }, body });

  it("413 for a body over the limit, declared or chunked", async () => {
    const big = `grant_type=client_credentials&pad=${"a".repeat(5000)}`;
    expectInvalidRequest(await tokenPost(big), 413);
    // No content-length: the body streams in chunks and is cut as soon as it passes the limit.
    const chunked = await raw(world.issuer, "/oauth2/introspect", {
      headers: { ...FORM, ...auth, "transfer-encoding": "chunked" },
      body: Buffer.from(`token=${"a".repeat(100_000)}`),
    });
    expectInvalidRequest(chunked, 413);
  });

  it("invalid_request for a parameter sent twice, even with the same value", async () => {
    expectInvalidRequest(await tokenPost("grant_type=client_credentials&grant_type=client_credentials"));
    expectInvalidRequest(await tokenPost("grant_type=client_credentials&scope=zone:read&scope=dns:edit"));
    expectInvalidRequest(await raw(world.issuer, "/oauth2/introspect", { headers: { ...FORM, ...auth }, body: "token=a&token=b" }));
    expectInvalidRequest(await raw(world.issuer, "/oauth2/revoke", { headers: { ...FORM, ...auth }, body: "token=a&token=" }));
  });

  it("invalid_request for a wrong or missing content type, or another charset", async () => {
    const body = "grant_type=client_credentials";
    expectInvalidRequest(await tokenPost(JSON.stringify({ grant_type: "client_credentials" }), { "content-type": "application/json" }));
    expectInvalidRequest(await tokenPost(body, { "content-type": "text/plain" }));
    expectInvalidRequest(await tokenPost(body, { "content-type": "multipart/form-data; boundary=x" }));
    expectInvalidRequest(await tokenPost(body, { "content-type": "application/x-www-form-urlencoded; charset=latin1" }));
    expectInvalidRequest(await raw(world.issuer, "/oauth2/token", { headers: auth, body }));
    // The right type with a UTF-8 charset parameter is fine.
    expect((await tokenPost(body, { "content-type": "application/x-www-form-urlencoded; charset=UTF-8" })).status).toBe(200);
  });

  it("invalid_request for bad percent-encoding, invalid UTF-8, too many parameters, parameters in the URL", async () => {
    expectInvalidRequest(await tokenPost("grant_type=client_credentials&scope=%ZZ"));
    expectInvalidRequest(await tokenPost(Buffer.from([0x67, 0x72, 0x61, 0x6e, 0x74, 0x5f, 0x74, 0x79, 0x70, 0x65, 0x3d, 0xff, 0xfe])));
    expectInvalidRequest(await tokenPost("grant_type=client_credentials&scope=%C3%28"));
    expectInvalidRequest(await tokenPost(Array.from({ length: 40 }, (_, i) => `p${i}=1`).join("&")));
    expectInvalidRequest(await raw(world.issuer, "/oauth2/token?grant_type=client_credentials", { headers: { ...FORM, ...auth }, body: "" }));
    expectInvalidRequest(await tokenPost("=novalue&grant_type=client_credentials"));
  });

  it("missing parameters and garbage tokens get the endpoint's error or answer", async () => {
    expectInvalidRequest(await tokenPost(""));
    expect((await raw(world.issuer, "/oauth2/introspect", { headers: { ...FORM, ...auth }, body: "token=%00%01%02" })).text).toBe('{"active":false}');
    const garbageRefresh = await tokenPost(`grant_type=refresh_token&refresh_token=${encodeURIComponent("glr_\u0000' OR 1=1 --")}`);
    expect({ status: garbageRefresh.status, error: garbageRefresh.json?.["error"] }).toEqual({ status: 400, error: "invalid_grant" });
    expect((await raw(world.issuer, "/oauth2/revoke", { headers: { ...FORM, ...auth }, body: `token=${"%F0%9F%92%A9".repeat(50)}` })).status).toBe(200);
  });

  it("a client's x-request-id is echoed and logged, never an idempotency key", async () => {
    const headers = { "x-request-id": "same-id-every-time" };
    const first = await tokenPost("grant_type=client_credentials", headers);
    const second = await tokenPost("grant_type=client_credentials&scope=zone:read", headers);
    const again = await tokenPost("grant_type=client_credentials", headers);
    expect([first.status, second.status, again.status]).toEqual([200, 200, 200]);
    expect(first.headers["x-request-id"]).toBe("same-id-every-time");
    // A repeated request is a new request: new tokens, not a replayed answer.
    expect(again.json?.["access_token"]).not.toBe(first.json?.["access_token"]);
    expect(world.ledger.logs.lines.some((l) => l.includes('"clientRequestId":"same-id-every-time"'))).toBe(true);
  });

    it("405 with Allow for the wrong method, 404 for unknown paths", async () => {
    const get = await raw(world.issuer, "/oauth2/token", { method: "GET" });
    expect({ status: get.status, allow: get.headers["allow"], error: get.json?.["error"] }).toEqual({ status: 405, allow: "POST", error: "invalid_request" });
    const postMeta = await raw(world.issuer, "/.well-known/oauth-authorization-server", { method: "POST", headers: FORM, body: "" });
    expect({ status: postMeta.status, allow: postMeta.headers["allow"] }).toEqual({ status: 405, allow: "GET" });
    expect((await raw(world.issuer, "/../../etc/passwd", { method: "GET" })).status).toBe(404);
    expect((await raw(world.issuer, "/oauth2/token/", { headers: FORM, body: "" })).status).toBe(404);
  });

  it("malformed HTTP, huge headers and a cut-short body do not take the server down", async () => {
    expect(await rawSocket(world.issuer, "NOT HTTP AT ALL\r\n\r\n")).toMatch(/^HTTP\/1\.1 400/);
    expect(await rawSocket(world.issuer, `POST /oauth2/token HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431/);
    // Declares 1000 bytes, sends 10 and hangs up.
    await rawSocket(world.issuer, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type");
    const meta = await raw(world.issuer, "/.well-known/oauth-authorization-server", { method: "GET" });
    expect(meta.status).toBe(200);
    expect(meta.json?.["issuer"]).toBe(world.issuer);
  });
});
