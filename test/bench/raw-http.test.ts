import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { encodeRequests, RawHttpConnection } from "../../scripts/bench/lib/raw-http.js";

/** The benchmarks' cheap HTTP client must judge answers correctly, or its req/s count wrong work. */
describe("RawHttpConnection (benchmark load generator client)", () => {
  let server: Server | undefined;
  const seen: { path: string; auth: string | undefined; body: string }[] = [];

  afterEach(async () => {
    seen.length = 0;
    await new Promise<void>((r) => (server === undefined ? r() : server.close(() => r())));
    server?.closeAllConnections();
    server = undefined;
  });

  /** A server that answers by the token sent: "on" active (pretty-printed like Koa), "off" inactive, "bad" 401. */
  const start = async (options: { keepAliveTimeout?: number; closeEach?: boolean } = {}): Promise<number> => {
    server = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (body += c));
      req.on("end", () => {
        seen.push({ path: req.url ?? "", auth: req.headers.authorization, body });
        const token = new URLSearchParams(body).get("token");
        const [status, json] =
          token === "on" ? [200, JSON.stringify({ active: true, scope: "a" }, null, 2)] : token === "off" ? [200, '{"active":false}'] : [401, '{"error":"invalid_client"}'];
        res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json), ...(options.closeEach ? { connection: "close" } : {}) });
        res.end(json);
      });
    });
    if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
    await new Promise<void>((r) => server?.listen(0, "127.0.0.1", () => r()));
    return (server.address() as AddressInfo).port;
  };

  const target = (port: number) => ({ host: "127.0.0.1", port, path: "/introspect", headers: ["Authorization: Basic eDp5", "Content-Type: application/x-www-form-urlencoded"] });

  it("sends the encoded request and tells active from inactive answers", async () => {
    const port = await start();
    const [on, off] = encodeRequests(target(port), ["token=on", "token=off"]) as [Buffer, Buffer];
    const connection = new RawHttpConnection("127.0.0.1", port, 1);
    expect(await connection.send(on)).toBe("active");
    expect(await connection.send(off)).toBe("inactive");
    expect(await connection.send(on)).toBe("active");
    connection.close();
    expect(seen).toEqual([
      { path: "/introspect", auth: "Basic eDp5", body: "token=on" },
      { path: "/introspect", auth: "Basic eDp5", body: "token=off" },
      { path: "/introspect", auth: "Basic eDp5", body: "token=on" },
    ]);
  });

  it("rejects a non-200 answer with its status and body", async () => {
    const port = await start();
    const [bad] = encodeRequests(target(port), ["token=bad"]) as [Buffer];
    const connection = new RawHttpConnection("127.0.0.1", port);
    await expect(connection.send(bad)).rejects.toThrow('HTTP 401: {"error":"invalid_client"}');
    connection.close();
  });

  it("reconnects after the server answered with Connection: close", async () => {
    const port = await start({ closeEach: true });
    const [on] = encodeRequests(target(port), ["token=on"]) as [Buffer];
    const connection = new RawHttpConnection("127.0.0.1", port);
    for (let i = 0; i < 5; i++) expect(await connection.send(on)).toBe("active");
    expect(seen).toHaveLength(5);
    connection.close();
  });

  it("reconnects after the server closed an idle keep-alive connection", async () => {
    const port = await start({ keepAliveTimeout: 20 });
    let opened = 0;
    let closed = 0;
    server?.on("connection", (socket) => {
      opened++;
      socket.on("close", () => closed++);
    });
    const [on] = encodeRequests(target(port), ["token=on"]) as [Buffer];
    const connection = new RawHttpConnection("127.0.0.1", port);
    expect(await connection.send(on)).toBe("active");
    while (closed === 0) await new Promise((r) => setTimeout(r, 10)); // the server's keep-alive timeout
    expect(await connection.send(on)).toBe("active");
    expect(opened).toBe(2);
    connection.close();
  });

  it("refuses a second request while one is in flight", async () => {
    const port = await start();
    const [on] = encodeRequests(target(port), ["token=on"]) as [Buffer];
    const connection = new RawHttpConnection("127.0.0.1", port);
    const first = connection.send(on);
    await expect(connection.send(on)).rejects.toThrow("one request in flight per connection");
    expect(await first).toBe("active");
    connection.close();
  });
});
