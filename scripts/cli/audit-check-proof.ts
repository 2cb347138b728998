import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { checkProofBundle, parseVerifierKey, type NoteVerifier } from "../../services/transparency/index.js";
import { UsageError, withUsage } from "./audit-common.js";

export const AUDIT_CHECK_PROOF_USAGE = `grant-ledger audit check-proof FILE --key VERIFIER_KEY [--key ...]

Validates a proof bundle from \`audit prove\` (FILE, or - for stdin) offline, with only the
checkpoint verifier key(s): the signed note's Ed25519 signature, then the RFC 9162 inclusion proof
from the message body to the signed root. Exit 0 when valid, 1 when not.
`;

/** `grant-ledger audit check-proof FILE --key VERIFIER_KEY`. Needs no NATS and no config. */
export function auditCheckProof(args: string[]): Promise<number> {
  return withUsage(async () => {
    const { values, positionals } = parseArgs({
      args,
      options: { key: { type: "string", multiple: true }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      process.stdout.write(AUDIT_CHECK_PROOF_USAGE);
      return 0;
    }
    const [file] = positionals;
    if (file === undefined || positionals.length !== 1 || values.key === undefined) throw new UsageError(`usage: ${AUDIT_CHECK_PROOF_USAGE}`);
    let verifiers: NoteVerifier[];
    try {
      verifiers = values.key.map((k) => parseVerifierKey(k));
    } catch (error) {
      throw new UsageError(`--key: ${error instanceof Error ? error.message : String(error)}`);
    }
    let bundle: unknown;
    try {
      bundle = JSON.parse(readFileSync(file === "-" ? 0 : file, "utf8"));
    } catch (error) {
      process.stdout.write(`invalid: cannot read ${file} as JSON (${error instanceof Error ? error.message : String(error)})\n`);
      return 1;
    }
    const result = checkProofBundle(bundle, verifiers);
    if (!result.ok) {
      process.stdout.write(`invalid: ${result.reason}\n`);
      return 1;
    }
    process.stdout.write(`ok: message ${result.sequence} is in the log ${result.origin} of ${result.treeSize} messages, checkpoint signed by ${result.signedBy}\n`);
    return 0;
  });
}
