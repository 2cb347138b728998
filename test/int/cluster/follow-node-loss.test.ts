import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsCluster, type NatsCluster, type NatsClusterNode } from "../../../scripts/nats-cluster.js";
import { connectEventLog, createJetStreamEventLog, type JetStreamEventLog } from "../../../services/eventlog/jetstream.js";
import type { FollowResetReason } from "../../../services/eventlog/follow.js";
import { say, sleep } from "../../support/fault-kit.js";
import { appendRequest, subjectRef } from "../eventlog/contract.js";

const log = say("follow-node-loss");

/** Waits until `seen` holds `count` sequences or `ms` pass. */
async function until(seen: readonly number[], count: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (seen.length < count && Date.now() < deadline) await sleep(50);
}

/**
 * Appends through `writer`, riding out the election that follows a node's death. The same request
 * (same msgId) every time: an attempt that timed out but landed is answered from the dedupe window.
 */
async function appendRetrying(writer: JetStreamEventLog, id: string): Promise<number> {
  const request = appendRequest(subjectRef(id));
  for (let tries = 1; ; tries++) {
    try {
      return (await writer.append(request)).seq;
    } catch (error) {
      if (tries >= 60) throw error;
      await sleep(250);
    }
  }
}

// The stall CI met once in cluster.test.ts, made certain: the follow's connection AND its consumer
// sit on the node that dies. The client then loops on consumer-info requests to the dead consumer
// with its heartbeat monitor cancelled, so only followLog's own watchdog moves it on.
describe("a log follow whose connection and consumer both die with their node", () => {
  let cluster: NatsCluster | undefined;
  let writer: JetStreamEventLog | undefined;

  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3 });
    writer = await connectEventLog({ servers: [...cluster.servers], replicas: 3, name: "follow-node-loss-writer" });
  });
  afterAll(async () => {
    await writer?.close();
    await cluster?.stop();
  });

  it("replaces the consumer and delivers every later event once, in order", { timeout: 90_000 }, async () => {
    const c = cluster as NatsCluster;
    const w = writer as JetStreamEventLog;
    for (let i = 1; i <= 3; i++) await w.append(appendRequest(subjectRef(`before${i}`)));

    // Try nodes until the follow's R1 consumer lands on the node its connection uses.
    let chosen: { node: NatsClusterNode; nc: NatsConnection; controller: AbortController; following: Promise<void>; seen: number[]; resets: FollowResetReason[] } | undefined;
    for (let tries = 0; tries < 24 && chosen === undefined; tries++) {
      const node = c.nodes[tries % c.nodes.length] as NatsClusterNode;
      const others = c.nodes.filter((n) => n !== node).map((n) => n.url);
      const nc = await connect({ servers: [node.url, ...others], noRandomize: true, maxReconnectAttempts: -1, reconnectTimeWait: 250, name: "follower" });
      const resets: FollowResetReason[] = [];
      const view = await createJetStreamEventLog(nc, { replicas: 3, follow: { onReset: ({ reason }) => resets.push(reason) } });
      const controller = new AbortController();
      const seen: number[] = [];
      const following = (async () => {
        for await (const e of view.follow(1, controller.signal)) seen.push(e.seq);
      })();
      await until(seen, 3, 10_000);
      expect(seen).toEqual([1, 2, 3]);
      const consumers = await w.jsm.consumers.list(w.stream).next();
      const host = consumers.length === 1 ? consumers[0]?.cluster?.leader : undefined;
      if (host === node.name && nc.info?.server_name === node.name) {
        chosen = { node, nc, controller, following, seen, resets };
        break;
      }
      controller.abort();
      await following;
      await nc.close();
      // Its consumer is deleted asynchronously; the next try must see only its own.
      for (let i = 0; i < 40 && (await w.jsm.consumers.list(w.stream).next()).length > 0; i++) await sleep(50);
    }
    expect(chosen, "no try placed the consumer on the connection's node").toBeDefined();
    const { node, nc, controller, following, seen, resets } = chosen as NonNullable<typeof chosen>;
    log(`follow connected to ${node.name}, its consumer hosted there too; kill -9 ${node.name}`);

    await node.kill("SIGKILL");
    const killedAt = Date.now();
    const appended: number[] = [];
    for (let i = 1; i <= 3; i++) appended.push(await appendRetrying(w, `after${i}`));
    await until(seen, 6, 30_000);
    log(`appended ${appended.join(", ")}; follow saw ${seen.join(", ")} ${Date.now() - killedAt} ms after the kill; resets: ${resets.join(", ")}`);
    expect(seen).toEqual([1, 2, 3, ...appended]);
    expect(appended).toEqual([4, 5, 6]);
    expect(resets.length).toBeGreaterThan(0);

    controller.abort();
    await following;
    await nc.close();
    await node.restart();
  });
});
