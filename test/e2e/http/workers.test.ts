import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientType } from "../../../services/gen/grantledger/v1/client_service.js";
import { rid } from "../../support/e2e-harness.js";
import { actor, connectClients, type LedgerClients } from "../../support/grpc-clients.js";
import { spawnLedgerProcess, type LedgerProcess } from "../../support/ledger.js";
import { freePort, startNatsServer, type NatsServer } from "../../support/nats-server.js";
import { basic, form, FORM, raw } from "./support.js";

interface LogLine {
  msg?: string;
  httpWorker?: number;
  pid?: number;
  clientRequestId?: string;
  path?: string;
  status?: number;
  pids?: number[];
}

const canBind = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

/** A free port P with P + 1 and P + 2 free too (the workers' metrics ports). */
async function freePortRun(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 2 <= 65535 && (await canBind(port + 1)) && (await canBind(port + 2))) return port;
  }
}

/** The count of grantledger_http_requests_total for successful introspections, from one /metrics. */
async function introspectionsCounted(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("grantledger_http_requests_total{") && l.includes('path="/oauth2/introspect"') && l.includes('status="200"'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/**
 * `serve --http-workers 2`: the primary runs commands, introspection, projector and checkpointer;
 * two node:cluster workers serve the OAuth HTTP port, each reading the projector's file. Every
 * request goes out on a new connection (the primary hands connections to the workers in turn) with
 * its own x-request-id, and the workers' log lines say which one answered it.
 */
describe("HTTP workers (GL_HTTP_WORKERS=2)", () => {
  let nats: NatsServer;
  let dataDir: string;
  let ledger: LedgerProcess;
  let api: LedgerClients;
  let issuer: string;
  let metricsPort: number;
  let app: { clientId: string; clientSecret: string };
  let resourceServer: { clientId: string; clientSecret: string };

  const lines = (): LogLine[] =>
    ledger
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LogLine);

  /** Which worker answered each request id (from its `http` log line). */
  const answeredBy = (ids: readonly string[]): (number | undefined)[] => {
    const byId = new Map(lines().filter((l) => l.msg === "http").map((l) => [l.clientRequestId, l.httpWorker]));
    return ids.map((id) => byId.get(id));
  };

  const until = async (what: string, ready: () => boolean): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (!ready()) {
      if (Date.now() > deadline) throw new Error(`${what}: not within 30 s:\n${ledger.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /** Introspects `token` `times` times, each on a new connection; returns the bodies and the request ids. */
  const introspectEach = async (token: string, times: number, tag: string) => {
    const ids = Array.from({ length: times }, (_, i) => `${tag}-${i}-${rid().slice(0, 8)}`);
    const bodies: unknown[] = [];
    for (const id of ids) {
      const res = await raw(issuer, "/oauth2/introspect", {
        headers: { ...FORM, connection: "close", "x-request-id": id, authorization: basic(resourceServer.clientId, resourceServer.clientSecret) },
        body: form({ token }),
      });
      expect(res.status).toBe(200);
      bodies.push(res.json);
    }
    // The log line is written when the answer is; the stdout pipe may deliver it a moment later.
    await until("log lines of every request", () => answeredBy(ids).every((w) => w !== undefined));
    return { bodies, workers: answeredBy(ids) };
  };

  const register = async (name: string) => {
    const registered = await api.clients.registerClient(
      {
        requestId: rid(),
        ownerAccount: "acct-workers",
        name,
        redirectUris: ["https://app.example.com/callback"],
        allowedScopes: ["zone:read", "dns:edit"],
        clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
      },
      actor("console"),
    );
    return { clientId: registered.clientId, clientSecret: registered.clientSecret };
  };

  beforeAll(async () => {
    nats = await startNatsServer();
    dataDir = await mkdtemp(join(tmpdir(), "gl-http-workers-"));
    const httpPort = await freePort();
    metricsPort = await freePortRun();
    ledger = await spawnLedgerProcess(nats.url, dataDir, {
      GL_ROLES: "commands,introspection,projector,checkpointer,http",
      GL_HTTP_WORKERS: "2",
      GL_HTTP_PORT: String(httpPort),
      GL_METRICS_PORT: String(metricsPort),
      // A short staleness bound, for the last test (NATS stopped); ample while NATS runs.
      GL_MAX_STALENESS_MS: "1500",
      GL_STALENESS_CHECK_MS: "100",
      LOG_LEVEL: "info",
    });
    await until("http workers serving", () => lines().some((l) => l.msg === "http workers serving"));
    issuer = `http://127.0.0.1:${httpPort}`;
    api = connectClients(ledger.address);
    app = await register("Workers app");
    resourceServer = await register("Workers resource server");
  }, 90_000);

  afterAll(async () => {
    api?.close();
    await ledger?.kill("SIGTERM");
    await nats?.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it("serves correct answers from both workers, and a revocation through one is visible through both at once", async () => {
    // The token endpoint answers once its worker's read model has applied the issue (read-your-writes).
    const issued = await raw(issuer, "/oauth2/token", {
      headers: { ...FORM, connection: "close", authorization: basic(app.clientId, app.clientSecret) },
      body: form({ grant_type: "client_credentials", scope: "zone:read" }),
    });
    expect(issued.status).toBe(200);
    const token = issued.json?.["access_token"] as string;
    expect(token).toMatch(/^gla_/);

    const before = await introspectEach(token, 8, "before");
    expect(new Set(before.workers)).toEqual(new Set([1, 2]));
    for (const body of before.bodies) {
      expect(body).toMatchObject({ active: true, client_id: app.clientId, sub: app.clientId, scope: "zone:read", token_type: "Bearer" });
    }

    const revoked = await raw(issuer, "/oauth2/revoke", {
      headers: { ...FORM, connection: "close", authorization: basic(app.clientId, app.clientSecret) },
      body: form({ token }),
    });
    expect(revoked.status).toBe(200);

    // No wait: the revocation endpoint answered after its worker saw the write in the shared file,
    // and every worker reads that same file.
    const after = await introspectEach(token, 8, "after");
    expect(new Set(after.workers)).toEqual(new Set([1, 2]));
    for (const body of after.bodies) expect(body).toEqual({ active: false });

    // Each worker exports its own HTTP series on GL_METRICS_PORT + its slot; together they count every answer.
    const counted = [await introspectionsCounted(metricsPort + 1), await introspectionsCounted(metricsPort + 2)];
    const served = [...before.workers, ...after.workers];
    expect(counted).toEqual([served.filter((w) => w === 1).length, served.filter((w) => w === 2).length]);
  });

  it("replaces a worker that dies, in its slot (same log name, same metrics port)", async () => {
    const pidOf = (slot: number): number | undefined =>
      lines().findLast((l) => l.msg === "grant ledger serving" && l.httpWorker === slot)?.pid;
    const victim = pidOf(1);
    expect(victim).toBeTypeOf("number");
    process.kill(victim as number, "SIGKILL");
    await until("worker 1 replaced", () => pidOf(1) !== undefined && pidOf(1) !== victim);
    const grant = await api.grants.createGrant(
      { requestId: rid(), subject: "user-workers-2", clientId: app.clientId, scopes: ["zone:read"], resources: ["acct-1"], expiresAt: undefined },
      actor("front-door"),
    );
    const issued = await api.tokens.issueTokens({ requestId: rid(), grantId: grant.grantId, scopes: [], includeRefreshToken: false }, actor("front-door"));
    // gRPC min_sequence freshness on the primary first, so the HTTP answers below cannot be early.
    expect((await api.introspection.introspect({ token: issued.accessToken, minSequence: issued.sequence }, actor("rs"))).active).toBe(true);
    const now = await introspectEach(issued.accessToken, 6, "replaced");
    expect(new Set(now.workers)).toEqual(new Set([1, 2]));
    for (const body of now.bodies) expect(body).toMatchObject({ active: true, sub: "user-workers-2" });
    // The replacement exports its series on its slot's port again (its own count: it started at 0).
    expect(await introspectionsCounted(metricsPort + 1)).toBe(now.workers.filter((w) => w === 1).length);
  });

  it("each worker fails closed on its own while the log is out of reach, and serves again once it is back", { timeout: 90_000 }, async () => {
    const grant = await api.grants.createGrant(
      { requestId: rid(), subject: "user-workers-3", clientId: app.clientId, scopes: ["zone:read"], resources: ["acct-1"], expiresAt: undefined },
      actor("front-door"),
    );
    const issued = await api.tokens.issueTokens({ requestId: rid(), grantId: grant.grantId, scopes: [], includeRefreshToken: false }, actor("front-door"));
    expect((await api.introspection.introspect({ token: issued.accessToken, minSequence: issued.sequence }, actor("rs"))).active).toBe(true);

    /** Introspects on new connections until both workers answered `status`; each answer is checked. */
    const untilBothAnswer = async (status: 200 | 503, tag: string): Promise<void> => {
      const seenBy = new Set<number>();
      const deadline = Date.now() + 30_000;
      for (let i = 0; seenBy.size < 2; i++) {
        if (Date.now() > deadline) throw new Error(`both workers did not answer ${status} within 30 s (so far: ${[...seenBy].join(", ")})`);
        const id = `${tag}-${i}-${rid().slice(0, 8)}`;
        const res = await raw(issuer, "/oauth2/introspect", {
          headers: { ...FORM, connection: "close", "x-request-id": id, authorization: basic(resourceServer.clientId, resourceServer.clientSecret) },
          body: form({ token: issued.accessToken }),
        });
        // Before the bound is exceeded (or before a worker has confirmed again) the other answer is
        // expected too; never anything else.
        if (res.status === 200) expect(res.json).toMatchObject({ active: true });
        else expect({ status: res.status, error: res.json?.["error"] }).toEqual({ status: 503, error: "temporarily_unavailable" });
        if (res.status === status) {
          await until("its log line", () => answeredBy([id])[0] !== undefined);
          seenBy.add(answeredBy([id])[0] as number);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    await nats.kill("SIGTERM");
    await untilBothAnswer(503, "stale");
    await nats.restart();
    await untilBothAnswer(200, "fresh");
  });
});
