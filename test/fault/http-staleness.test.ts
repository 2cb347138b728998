import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { basic, FORM, form, raw, registerClient, startHttpE2E } from "../e2e/http/support.js";
import { say, sleep } from "../support/fault-kit.js";

const log = say("http-staleness");
const BOUND_MS = 1_500;
/** One check period, the request's own 1 s grace wait, and scheduling. */
const MARGIN_MS = 2_000;

type World = Awaited<ReturnType<typeof startHttpE2E>>;

describe("staleness bound at the HTTP introspection endpoint: it fails closed like the gRPC one", () => {
  let world: World;

  beforeAll(async () => {
    world = await startHttpE2E({ maxStalenessMs: BOUND_MS, stalenessCheckMs: 100, minSequenceWaitMs: 1_000 });
  });
  afterAll(async () => world?.stop());

  it("answers 503 temporarily_unavailable within the bound after NATS stops, and recovers by itself", { timeout: 90_000 }, async () => {
    const app = await registerClient(world, "confidential", ["zone:read"]);
    const auth = { ...FORM, authorization: basic(app.clientId, app.clientSecret) };
    const issued = await raw(world.issuer, "/oauth2/token", { headers: auth, body: form({ grant_type: "client_credentials" }) });
    const token = String(issued.json?.["access_token"]);
    const introspect = () => raw(world.issuer, "/oauth2/introspect", { headers: auth, body: form({ token }) });
    expect((await introspect()).json).toMatchObject({ active: true });

    await world.nats.kill("SIGTERM");
    const downAt = Date.now();
    let firstUnavailableAfter: number | undefined;
    while (Date.now() - downAt < BOUND_MS + MARGIN_MS + 1_000) {
      // When the request was sent: an active answer to a request sent past the bound is the failure.
      const sentAfter = Date.now() - downAt;
      const res = await introspect();
      const elapsed = Date.now() - downAt;
      if (res.status === 200) {
        expect(res.json).toMatchObject({ active: true });
        expect(sentAfter).toBeLessThanOrEqual(BOUND_MS + 200);
      } else {
        expect({ status: res.status, error: res.json?.["error"], retry: res.headers["retry-after"] }).toEqual({
          status: 503,
          error: "temporarily_unavailable",
          retry: "1",
        });
        firstUnavailableAfter ??= elapsed;
      }
      await sleep(50);
    }
    expect(firstUnavailableAfter).toBeDefined();
    expect(firstUnavailableAfter as number).toBeLessThanOrEqual(BOUND_MS + MARGIN_MS);

    await world.nats.restart();
    const backAt = Date.now();
    let recovered = false;
    while (!recovered && Date.now() - backAt < 30_000) {
      const res = await introspect();
      recovered = res.status === 200;
      if (recovered) expect(res.json).toMatchObject({ active: true });
      else await sleep(100);
    }
    expect(recovered).toBe(true);
    log(`first 503 ${firstUnavailableAfter} ms after the stop; serving again ${Date.now() - backAt} ms after the restart`);
  });
});
