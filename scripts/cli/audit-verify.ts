import { parseArgs } from "node:util";
import { describeReport, LogVerifier, readRaw, streamHead } from "../../services/transparency/index.js";
import { auditConfig, openStream, verifiersFrom, withUsage } from "./audit-common.js";

export const AUDIT_VERIFY_USAGE = `grant-ledger audit verify [--stream NAME] [--key VERIFIER_KEY]... [--json]

Reads the whole log at NATS_URL and checks it: dense sequences, every per-aggregate hash chain,
every checkpoint's Ed25519 signature and its RFC 9162 root over messages 1..tree size.
Prints "verified N events, M checkpoints" (exit 0) or the first sequence where history breaks and
how: altered, missing, reordered, duplicated, bad-signature (exit 1).
Keys: --key (repeatable, signed-note verifier keys); default: the configured checkpoint key.
`;

/** `grant-ledger audit verify`. */
export function auditVerify(args: string[]): Promise<number> {
  return withUsage(async () => {
    const { values } = parseArgs({
      args,
      options: { stream: { type: "string" }, key: { type: "string", multiple: true }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(AUDIT_VERIFY_USAGE);
      return 0;
    }
    const config = auditConfig();
    const verifiers = verifiersFrom(values.key, config);
    const log = await openStream(config, values.stream);
    try {
      const started = performance.now();
      const { lastSeq } = await streamHead(log.jsm, log.stream);
      const verifier = new LogVerifier({ subjectRoot: log.subjectRoot, verifiers });
      for await (const m of readRaw(log.js, log.stream, 1, { untilSeq: lastSeq })) verifier.add(m);
      const report = verifier.finish();
      const seconds = (performance.now() - started) / 1000;
      if (values.json === true) process.stdout.write(`${JSON.stringify(report)}\n`);
      else process.stdout.write(`${describeReport(report)}\n`);
      process.stderr.write(`read ${report.messages} messages of ${log.stream} in ${seconds.toFixed(2)} s (${Math.round(report.messages / Math.max(seconds, 1e-3))}/s)\n`);
      return report.ok ? 0 : 1;
    } finally {
      await log.close();
    }
  });
}
