// Headless Better Auth server for the Python interop tests.
//
// Env:
//   PORT                loopback port to listen on (required)
//   BETTER_AUTH_SECRET  long random string (required)
//   DB_PATH             sqlite file path; schema is created at start (required)
//
// Prints exactly one line "ready" to stdout once listening; exits on SIGTERM/SIGINT.
import http from "node:http";

import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins/jwt";

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`server.mjs: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

const port = Number.parseInt(requireEnv("PORT"), 10);
const secret = requireEnv("BETTER_AUTH_SECRET");
const dbPath = requireEnv("DB_PATH");
const baseURL = `http://127.0.0.1:${port}`;

const database = new Database(dbPath);

const options = {
  baseURL,
  secret,
  database,
  emailAndPassword: { enabled: true },
  plugins: [jwt()],
  // Keep the fixture deterministic: no rate limiting between test sign-ups, no telemetry.
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
};

const { runMigrations } = await getMigrations(options);
await runMigrations();

const auth = betterAuth(options);
const server = http.createServer(toNodeHandler(auth));

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close(() => {
    database.close();
    process.exit(0);
  });
  server.closeAllConnections();
  // Do not hang forever on a stuck connection.
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

server.listen(port, "127.0.0.1", () => {
  process.stdout.write("ready\n");
});
