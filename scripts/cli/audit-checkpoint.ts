import { parseArgs } from "node:util";
import { checkpointOrigin, loadCheckpointSigner } from "../../services/config/keys.js";
import { Checkpointer } from "../../services/transparency/index.js";
import { auditConfig, openStream, withUsage } from "./audit-common.js";

export const AUDIT_CHECKPOINT_USAGE = `grant-ledger audit checkpoint [--stream NAME]

Signs and appends a checkpoint over the whole log at NATS_URL now, with the configured checkpoint
key (GL_CHECKPOINT_SIGNING_KEY, or the dev key in <data-dir>/keys). Safe next to running
checkpointers: appends are serialized by optimistic concurrency on the checkpoint subject.
`;

/** `grant-ledger audit checkpoint`. */
export function auditCheckpoint(args: string[]): Promise<number> {
  return withUsage(async () => {
    const { values } = parseArgs({ args, options: { stream: { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true });
    if (values.help === true) {
      process.stdout.write(AUDIT_CHECKPOINT_USAGE);
      return 0;
    }
    const config = auditConfig();
    const log = await openStream(config, values.stream);
    const checkpointer = new Checkpointer({
      log,
      signer: loadCheckpointSigner(config),
      origin: checkpointOrigin(config),
      intervalMs: 0,
      actor: "cli:audit-checkpoint",
      catchUpTimeoutMs: 600_000,
    }).start();
    try {
      const cp = await checkpointer.checkpoint();
      process.stdout.write(
        `${JSON.stringify({ sequence: cp.seq, treeSize: cp.treeSize, rootHash: cp.rootHash.toString("base64"), verifierKey: checkpointer.verifierKey })}\n${cp.note}`,
      );
      return 0;
    } finally {
      await checkpointer.stop();
      await log.close();
    }
  });
}
