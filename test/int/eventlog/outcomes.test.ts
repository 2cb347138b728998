import { randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectEventLog } from "../../../services/eventlog/jetstream.js";
import { createKvOutcomeStore } from "../../../services/eventlog/outcomes.js";
import { startNatsServer, type NatsServer } from "../../support/nats-server.js";
import { outcomeStoreContract } from "./outcomes-contract.js";

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const bucket = (): string => `OUT_${randomUUID().replaceAll("-", "").slice(0, 12)}`;

outcomeStoreContract("jetstream kv", () => createKvOutcomeStore(nc, { bucket: bucket(), ttlMs: 60_000 }));

describe("kv outcome store", () => {
  it("lives outside the LEDGER stream, on the event log's connection", async () => {
    const log = await connectEventLog({ servers: server.url });
    try {
      const store = await createKvOutcomeStore(log, { ttlMs: 60_000 });
      expect(await store.create("k", Uint8Array.of(7))).toBe(true);
      expect(await store.get("k")).toEqual(Uint8Array.of(7));
      expect(await log.headSequence()).toBe(0);
      const info = await log.jsm.streams.info("KV_GL_OUTCOMES");
      expect(info.config.max_age).toBe(60_000 * 1_000_000);
      expect(info.config.max_msgs_per_subject).toBe(1);
      // Opening the existing bucket again works.
      await createKvOutcomeStore(log, { ttlMs: 60_000 });
    } finally {
      await log.close();
    }
  });

  it("forgets entries after ttlMs", async () => {
    const store = await createKvOutcomeStore(nc, { bucket: bucket(), ttlMs: 1_000 });
    await store.create("k", Uint8Array.of(1));
    expect(await store.get("k")).toEqual(Uint8Array.of(1));
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await store.get("k")).toBeUndefined();
    expect(await store.create("k", Uint8Array.of(2))).toBe(true);
  }, 15_000);
});
