import { serve } from "./cli/serve.js";

const USAGE = `grant-ledger <command>

Commands:
  serve [--grpc-host H] [--grpc-port N] [--data-dir D]
        Serve every role (commands, projections, introspection) in one process. Without NATS_URL,
        runs a local nats-server with its store in <data-dir>/nats.

Configuration comes from environment variables (see README.md); flags override them.
`;

/** Each command takes its own arguments and resolves to an exit code. */
const COMMANDS: Readonly<Record<string, (args: string[]) => Promise<number>>> = {
  serve,
};

/** Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
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
