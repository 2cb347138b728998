import { loadConfig, type Config } from "../../services/config/config.js";
import { findCheckpointSigner } from "../../services/config/keys.js";
import { connectEventLog, type JetStreamEventLog } from "../../services/eventlog/index.js";
import { parseVerifierKey, streamHead, type NoteVerifier } from "../../services/transparency/index.js";

/** A usage or configuration problem: exit code 2 with this message. */
export class UsageError extends Error {}

export function auditConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * Connects to NATS_URL (default: the local `npm start` server, nats://127.0.0.1:<GL_NATS_PORT>) and
 * opens `stream` (default GL_STREAM) as it is: no stream is created or updated. The subject root is
 * read from the stream's `<root>.>` subject.
 */
export async function openStream(config: Config, stream: string = config.stream): Promise<JetStreamEventLog> {
  const servers = config.natsUrl ?? `nats://127.0.0.1:${config.natsPort}`;
  const probe = await connectEventLog({ servers, stream, ensureStream: false, maxReconnectAttempts: 2, name: "grant-ledger-audit" });
  let root: string | undefined;
  try {
    root = (await streamHead(probe.jsm, stream)).subjectRoot;
  } catch (error) {
    await probe.close();
    throw new UsageError(`cannot open stream ${stream} at ${servers}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (root === undefined || root === probe.subjectRoot) return probe;
  await probe.close();
  return connectEventLog({ servers, stream, subjectRoot: root, ensureStream: false, maxReconnectAttempts: 2, name: "grant-ledger-audit" });
}

/** Verifier keys from `--key` flags, else the configured (or dev) checkpoint signer's. */
export function verifiersFrom(keys: readonly string[] | undefined, config: Config): NoteVerifier[] {
  try {
    if (keys !== undefined && keys.length > 0) return keys.map((k) => parseVerifierKey(k));
  } catch (error) {
    throw new UsageError(`--key: ${error instanceof Error ? error.message : String(error)}`);
  }
  const signer = findCheckpointSigner(config);
  if (signer === undefined) {
    throw new UsageError("no verifier key: pass --key <name+id+key> (see <data-dir>/keys/checkpoint.vkey) or set GL_CHECKPOINT_SIGNING_KEY");
  }
  return [parseVerifierKey(signer.verifierKey)];
}

/** Runs a command body, mapping UsageError to exit code 2 with its message on stderr. */
export async function withUsage(run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
