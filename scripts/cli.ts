import { auditCheckProof } from "./cli/audit-check-proof.js";
import { auditCheckpoint } from "./cli/audit-checkpoint.js";
import { auditProve } from "./cli/audit-prove.js";
import { auditReplay } from "./cli/audit-replay.js";
import { auditVerify } from "./cli/audit-verify.js";
import { certsDev } from "./cli/certs.js";
import { configCheck } from "./cli/config-check.js";
import { keysCreateApiKey, keysRevokeApiKey, keysRotate } from "./cli/keys.js";
import { natsDown, natsUp } from "./cli/nats.js";
import { natsCluster } from "./cli/nats-cluster.js";
import { projectionsDigest } from "./cli/projections-digest.js";
import { projectionsPrune } from "./cli/projections-prune.js";
import { projectionsRebuild } from "./cli/projections-rebuild.js";
import { projectionsStatus } from "./cli/projections-status.js";
import { streamInfo, tail } from "./cli/stream.js";
import { serve } from "./cli/serve.js";

const USAGE = `grant-ledger <command>

Commands:
  serve [--roles R,...] [--grpc-host H] [--grpc-port N] [--data-dir D] [--metrics-port N] [--http-host H] [--http-port N] [--http-workers N] [--insecure-dev]
        Serve the given roles (commands, introspection, projector, checkpointer; default all of
        these, or GL_ROLES; add http for the OAuth HTTP endpoints on --http-port) in one process;
        --http-workers N (GL_HTTP_WORKERS) serves http from N worker processes sharing the port. Without NATS_URL, runs a local nats-server with its store in
        <data-dir>/nats. Needs TLS (GL_TLS_CERT, GL_TLS_KEY, GL_TLS_CLIENT_CA for mTLS) unless
        --insecure-dev (GL_INSECURE_DEV=1): plaintext, x-actor as the caller, loopback only.
  certs dev [--out DIR] [--client NAME]... [--days N] [--force]
        Create a local CA, a server certificate (localhost, 127.0.0.1, ::1) and client certificates
        (CN = caller identity; default front-door, resource-server, security, auditor, operator).
  keys create-api-key <caller>
        Mint an API key (glk_...) for a caller; prints it once, stores only its keyed hash in
        <data-dir>/callers.json (GL_CALLERS_FILE).
  keys revoke-api-key <key id | caller>
        Revoke one API key, or every key of a caller (running servers notice within a second).
  keys rotate [--id ID]
        Make a new token-hash key current in <data-dir>/keys/token-hash (dev keys); older keys keep
        verifying until their files are deleted. Restart servers to use it. With GL_TOKEN_HASH_KEY
        set, prints how to rotate through GL_TOKEN_HASH_OLD_KEYS and GL_REQUEST_KEY instead.
  config check [--json]
        Validate the configuration and print the effective values, secrets masked (exit 0/2).
  stream info [--stream NAME] [--no-types] [--json]
        Messages, bytes, first/last, aggregates; messages per aggregate kind and events per type.
  tail [--type T]... [--aggregate KIND[:ID]] [--from SEQ | --last N] [--stream NAME]
        Live events as JSON lines (metadata only), filtered; Ctrl-C stops (exit 0).
  projections status [--json]
        Each projection's version, file, applied sequence, lag (events, ms) and size (exit 0; 1 when
        the log cannot be read).
  projections rebuild <name> [--handover-timeout-ms N]
        Blue-green rebuild of tokens or audit into a new file from sequence 1 while the active one
        serves; the projector switches readers to it at the head. The old file stays until pruned.
  projections prune [<name>...] [--dry-run]
        Delete projection files that nothing serves, builds or is about to adopt.
  projections digest <name> [--file F] [--json]
        Content digest (SHA-256 over rows in key order) of the active file, or F, at its sequence.
  nats up | nats down
        Start / stop the local JetStream server (127.0.0.1:GL_NATS_PORT, store and pid file in
        <data-dir>/nats) that \`serve\` uses when NATS_URL is unset.
  nats cluster up | nats cluster down
        Start / stop a 3-node JetStream cluster on 127.0.0.1 in the background (stores, configs, logs
        and pid files in <data-dir>/nats-cluster); up prints the NATS_URL to use.
  audit replay [filters] [--format jsonl|table] [--follow] [--output FILE]
        Replay events straight from the log (NATS_URL), filtered; see \`audit replay --help\`.
  audit verify [--stream NAME] [--key VERIFIER_KEY]...
        Check the whole log: hash chains, checkpoint signatures and Merkle roots (exit 0/1).
  audit checkpoint [--stream NAME]
        Sign and append a checkpoint over the log now.
  audit prove <sequence> [--stream NAME]
        Print an offline-verifiable proof bundle for one message.
  audit check-proof FILE --key VERIFIER_KEY
        Validate a proof bundle with only the checkpoint verifier key (exit 0/1).

Configuration comes from environment variables (see README.md); flags override them.
`;

/**
 * Each command takes its own arguments and resolves to an exit code. A key of two words ("audit
 * replay") is a subcommand: it wins over a one-word key.
 */
const COMMANDS: Readonly<Record<string, (args: string[]) => Promise<number>>> = {
  serve,
  "certs dev": certsDev,
  "keys create-api-key": keysCreateApiKey,
  "keys revoke-api-key": keysRevokeApiKey,
  "keys rotate": keysRotate,
  "config check": configCheck,
  "stream info": streamInfo,
  tail,
  "projections status": projectionsStatus,
  "projections rebuild": projectionsRebuild,
  "projections prune": projectionsPrune,
  "projections digest": projectionsDigest,
  "nats up": natsUp,
  "nats down": natsDown,
  "nats cluster": natsCluster,
  "audit replay": auditReplay,
  "audit verify": auditVerify,
  "audit checkpoint": auditCheckpoint,
  "audit prove": auditProve,
  "audit check-proof": auditCheckProof,
};

/** Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const [sub, ...subRest] = rest;
  const subcommand = sub === undefined ? undefined : COMMANDS[`${command} ${sub}`];
  if (subcommand !== undefined) return subcommand(subRest);
  const run = COMMANDS[command];
  if (run === undefined) {
    process.stderr.write(`unknown command "${[command, sub].filter((w) => w !== undefined).join(" ")}"\n\n${USAGE}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
