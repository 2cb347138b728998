/**
 * The peer of the `introspect-peer` benchmark: node-oidc-provider with a minimal configuration —
 * the app client the tokens are issued to, a resource-server client that introspects
 * (client_secret_basic), the introspection feature on — and an unbounded in-memory adapter (the
 * default one is an LRU capped at 1000 entries, which would evict the tokens). Tokens are issued
 * straight into the adapter, each under a saved Grant (introspection then loads the token, its
 * grant and its client, as ours joins token, grant and client rows).
 *
 * `node --import tsx scripts/bench/targets/oidc-peer.ts <port> <tokens> <tokens-file>`; prints
 * "ready" once it listens with the tokens written.
 */
import { writeFileSync } from "node:fs";
import { createServer, type RequestListener } from "node:http";
import { PEER_CLIENT } from "../lib/oidc-peer.js";

interface ProviderInstance {
  callback(): RequestListener;
  Client: { find(id: string): Promise<unknown> };
  Grant: new (payload: { accountId: string; clientId: string }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
  AccessToken: new (payload: { accountId: string; client: unknown; grantId: string; scope: string; gty: string }) => { save(): Promise<string> };
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;
type AdapterClass = new (model: string, store: unknown) => unknown;
type LruClass = new (options: { maxSize: number }) => unknown;

// oidc-provider ships no types; load it untyped and describe the little we use.
const load = (specifier: string): Promise<{ default: unknown }> => import(specifier) as Promise<{ default: unknown }>;
const Provider = (await load("oidc-provider")).default as ProviderClass;
const MemoryAdapter = (await load("oidc-provider/lib/adapters/memory_adapter.js")).default as AdapterClass;
const LRU = (await load("oidc-provider/lib/helpers/lru.js")).default as LruClass;

const SCOPE = "openid account:read zone:read dns:read dns:edit offline_access";

const port = Number(process.argv[2] ?? "0");
const count = Number(process.argv[3] ?? "1000");
const tokensFile = process.argv[4] ?? "/dev/null";

const store = new LRU({ maxSize: 10_000_000 });
const provider = new Provider(`http://127.0.0.1:${port}`, {
  adapter: (model: string) => new MemoryAdapter(model, store),
  clients: [
    {
      client_id: "app",
      client_secret: "app-secret-0123456789abcdef0123456789abcdef",
      redirect_uris: ["https://app.example/callback"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    },
    { client_id: PEER_CLIENT.id, client_secret: PEER_CLIENT.secret, redirect_uris: [], response_types: [], grant_types: [] },
  ],
  scopes: SCOPE.split(" "),
  features: { introspection: { enabled: true }, devInteractions: { enabled: false } },
  ttl: { AccessToken: 3600, Grant: 86_400 },
});

const client = await provider.Client.find("app");
const tokens: string[] = [];
const grants = Math.max(1, Math.floor(count / 100));
const grantIds: string[] = [];
for (let g = 0; g < grants; g++) {
  const grant = new provider.Grant({ accountId: `user-${g}`, clientId: "app" });
  grant.addOIDCScope(SCOPE);
  grantIds.push(await grant.save());
}
for (let i = 0; i < count; i++) {
  const g = i % grants;
  const token = new provider.AccessToken({ accountId: `user-${g}`, client, grantId: grantIds[g] as string, scope: SCOPE, gty: "authorization_code" });
  tokens.push(await token.save());
}
writeFileSync(tokensFile, tokens.join("\n"));

const server = createServer(provider.callback());
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
process.once("SIGTERM", () => server.close(() => process.exit(0)));
