/** Looking at a JetStream cluster from tests: which node leads a stream, how its replicas stand. */
import { jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";

/** Stream info of `stream` through a connection to `servers` only (no gossip-discovered others). */
export async function streamInfo(servers: string | readonly string[], stream = "LEDGER"): Promise<StreamInfo> {
  const nc: NatsConnection = await connect({
    servers: typeof servers === "string" ? servers : [...servers],
    timeout: 2_000,
    noRandomize: true,
    maxReconnectAttempts: 0,
    ignoreClusterUpdates: true,
  });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2_000, checkAPI: false });
    return await jsm.streams.info(stream);
  } finally {
    await nc.close();
  }
}
