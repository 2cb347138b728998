import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import type { OAuthCommandDeps } from "../../../services/commands/index.js";
import { initialClientState, type ClientState } from "../../../services/domain/client/index.js";
import { unauthenticated } from "../../../services/domain/shared/errors.js";
import type { CallerGate, ClientView } from "../../../services/grpc/index.js";
import { ResourceServerAuth } from "../../../services/http/caller.js";
import { OAuthHttpError } from "../../../services/http/errors.js";

const CLIENT = "cl_rs";
const SECRET = "gls_right";
const key = { id: "k1", secret: Buffer.alloc(32, 7) };
const request = { headers: { authorization: `Basic ${Buffer.from(`${CLIENT}:${SECRET}`).toString("base64")}` } } as IncomingMessage;
const active: ClientState = { ...initialClientState, status: "active", clientId: CLIENT, clientType: "confidential" };
const row = (seq: number, status: ClientView["status"] = "active"): ClientView =>
  ({ clientId: CLIENT, clientType: "confidential", status, seq }) as ClientView;

/** A log whose client aggregate is `state`, and a read model that shows `rows` (or nothing) as it applies. */
function world(state: ClientState) {
  const calls = { secretChecks: 0 };
  const log = { state, view: undefined as ClientView | undefined, applied: 0 };
  const commands = {
    aggregates: { load: async () => ({ state: log.state, version: 1 }) },
    clientAuth: {
      authenticate: async (client: ClientState, _id: string, secret: string) => {
        calls.secretChecks++;
        if (client.status !== "active" || secret !== SECRET) throw unauthenticated("client authentication failed");
      },
    },
  } as unknown as OAuthCommandDeps;
  const gate = { authorize: (identity: string) => ({ identity, via: "oauth_client" }) } as unknown as CallerGate;
  const auth = new ResourceServerAuth({
    commands,
    readModel: { getClient: () => log.view },
    freshness: { appliedSeq: () => log.applied },
    keyring: { current: key, verifying: [key], stable: key, outcomeKey: key.secret, requestKey: key.secret },
    gate,
  });
  const authenticate = () => auth.authenticate(request, new Map(), "Introspect", 1_000);
  return { log, calls, authenticate };
}

const status = async (run: () => unknown): Promise<number> => {
  try {
    await run();
    return 200;
  } catch (error) {
    if (error instanceof OAuthHttpError) return error.status;
    throw error;
  }
};

describe("ResourceServerAuth: the client aggregate decides, the read-model row only keys the memory", () => {
  it("given a client the read model has not applied yet, when it authenticates, then the log's registration counts", async () => {
    const { calls, authenticate } = world(active);
    expect(await status(authenticate)).toBe(200);
    // Nothing remembered without a row that could show a later change: each request checks again.
    expect(await status(authenticate)).toBe(200);
    expect(calls.secretChecks).toBe(2);
  });

  it("given an active row, when the same secret comes again with nothing applied since, then no second check", async () => {
    const { log, calls, authenticate } = world(active);
    log.view = row(3);
    log.applied = 3;
    expect(await status(authenticate)).toBe(200);
    expect(await status(authenticate)).toBe(200);
    expect(calls.secretChecks).toBe(1);
  });

  it("given a remembered secret, when the row changes (client suspended), then the aggregate refuses it", async () => {
    const { log, authenticate } = world(active);
    log.view = row(3);
    log.applied = 3;
    expect(await status(authenticate)).toBe(200);
    log.state = { ...active, status: "suspended" };
    log.view = row(4, "suspended");
    log.applied = 4;
    expect(await status(authenticate)).toBe(401);
  });

  it("given a row still active after the log suspended the client, when it authenticates afresh, then 401", async () => {
    const { log, authenticate } = world({ ...active, status: "suspended" });
    log.view = row(3);
    expect(await status(authenticate)).toBe(401);
  });

  it("given a public client, when it presents a secret, then 401", async () => {
    const { log, authenticate } = world({ ...active, clientType: "public" });
    log.view = { ...row(3), clientType: "public" };
    expect(await status(authenticate)).toBe(401);
  });
});
