import { parseArgs } from "node:util";
import { decodeEnvelope, subjectFor } from "../../services/eventlog/index.js";
import { buildProofBundle, CHECKPOINT_AGGREGATE, MerkleTree, parseCheckpointBody, readRaw, streamHead } from "../../services/transparency/index.js";
import { auditConfig, openStream, UsageError, withUsage } from "./audit-common.js";

export const AUDIT_PROVE_USAGE = `grant-ledger audit prove <sequence> [--stream NAME]

Prints an offline-verifiable JSON proof bundle for the message at <sequence>: its body as stored,
its RFC 9162 inclusion proof to the latest checkpoint, and that checkpoint's signed note.
Check it with \`grant-ledger audit check-proof FILE --key VERIFIER_KEY\`.
`;

/** `grant-ledger audit prove <sequence>`. */
export function auditProve(args: string[]): Promise<number> {
  return withUsage(async () => {
    const { values, positionals } = parseArgs({
      args,
      options: { stream: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(AUDIT_PROVE_USAGE);
      return 0;
    }
    const sequence = Number(positionals[0]);
    if (positionals.length !== 1 || !Number.isSafeInteger(sequence) || sequence < 1) throw new UsageError(`usage: ${AUDIT_PROVE_USAGE}`);
    const config = auditConfig();
    const log = await openStream(config, values.stream);
    try {
      const { lastSeq } = await streamHead(log.jsm, log.stream);
      const checkpointSubject = subjectFor(CHECKPOINT_AGGREGATE, log.subjectRoot);
      const tree = new MerkleTree();
      let target: { subject: string; body: Uint8Array } | undefined;
      let latest: { seq: number; treeSize: number; note: string } | undefined;
      for await (const m of readRaw(log.js, log.stream, 1, { untilSeq: lastSeq })) {
        if (m.seq !== tree.size + 1) throw new Error(`stream ${log.stream} has a gap before sequence ${m.seq}`);
        tree.appendData(m.body);
        if (m.seq === sequence) target = { subject: m.subject, body: m.body };
        if (m.subject === checkpointSubject) {
          for (const event of decodeEnvelope(m, log.subjectRoot).events) {
            if (event.type !== "checkpoint.signed") continue;
            const note = event.data.note;
            latest = { seq: m.seq, treeSize: parseCheckpointBody(note.slice(0, note.lastIndexOf("\n\n") + 1)).treeSize, note };
          }
        }
      }
      if (target === undefined) throw new UsageError(`stream ${log.stream} has no message ${sequence} (head ${lastSeq})`);
      if (latest === undefined || latest.treeSize < sequence) {
        process.stderr.write(`message ${sequence} is not covered by a checkpoint yet: run \`grant-ledger audit checkpoint\` first\n`);
        return 1;
      }
      const bundle = buildProofBundle({ stream: log.stream, subject: target.subject, sequence, body: target.body, tree, checkpoint: latest });
      process.stdout.write(`${JSON.stringify(bundle, null, 2)}\n`);
      return 0;
    } finally {
      await log.close();
    }
  });
}
