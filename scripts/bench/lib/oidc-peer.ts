import { join } from "node:path";
import { freePort } from "../../nats-server.js";
import type { LoadSpec } from "./loadgen.js";
import { spawnTsx, type Child } from "./proc.js";

/** The resource-server client the peer (scripts/bench/targets/oidc-peer.ts) lets introspect. */
export const PEER_CLIENT = { id: "resource-server", secret: "rs-secret-0123456789abcdef0123456789abcdef" };

/** node-oidc-provider as the benchmarks' peer: its process, and the load that introspects on it. */
export interface OidcPeer {
  readonly child: Child;
  /** Resolves once it listens with its tokens written. */
  ready(): Promise<void>;
  /** One token per request, client_secret_basic, over `maxSockets` keep-alive sockets. */
  load(maxSockets: number): LoadSpec;
}

/**
 * Starts the peer with `tokens` access tokens, written to `dir`/peer-tokens.txt for the load
 * generator; it starts up while the caller seeds the ledger, so wait on {@link OidcPeer.ready}.
 */
export async function startOidcPeer(dir: string, tokens: number): Promise<OidcPeer> {
  const port = await freePort();
  const tokensFile = join(dir, "peer-tokens.txt");
  const child = spawnTsx("scripts/bench/targets/oidc-peer.ts", [String(port), String(tokens), tokensFile]);
  return {
    child,
    ready: () => child.waitFor("ready", 120_000),
    load: (maxSockets) => ({
      kind: "http-introspect",
      url: `http://127.0.0.1:${port}/token/introspection`,
      clientId: PEER_CLIENT.id,
      clientSecret: PEER_CLIENT.secret,
      tokensFile,
      maxSockets,
    }),
  };
}
