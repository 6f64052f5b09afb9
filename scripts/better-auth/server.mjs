// A real Better Auth server for the tasks function's tests: email and password sign-in and the
// jwt() plugin, on its own PostgreSQL database. Configured by the environment:
//   DATABASE_URL        its database (tables are created here on start: Better Auth's own migrations)
//   BETTER_AUTH_SECRET  the secret Better Auth encrypts its private keys with
//   JWT_ALG             EdDSA (Better Auth's default), ES256, RS256, PS256 or ES512
//   ROTATION_INTERVAL   optional, seconds: Better Auth mints a new key once the latest is that old
//   COOKIE_CACHE        "jwt": the session cookie cache is an HS256 JWT (the other token shape)
// Listens on 127.0.0.1 on a free port and prints one line, {"url": "http://127.0.0.1:PORT"},
// once it serves; it stops when stdin closes (so it never outlives the test that started it).
import { createServer } from "node:http";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { jwt } from "better-auth/plugins/jwt";
import { toNodeHandler } from "better-auth/node";
import pg from "pg";

const env = (name, fallback) => process.env[name] ?? fallback;

const server = createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${server.address().port}`;

const rotation = env("ROTATION_INTERVAL") ? Number(env("ROTATION_INTERVAL")) : undefined;
const options = {
  baseURL: url,
  secret: env("BETTER_AUTH_SECRET"),
  database: new pg.Pool({ connectionString: env("DATABASE_URL"), max: 4 }),
  emailAndPassword: { enabled: true },
  telemetry: { enabled: false },
  session: env("COOKIE_CACHE") === "jwt"
    ? { cookieCache: { enabled: true, strategy: "jwt", maxAge: 300 } }
    : undefined,
  plugins: [
    jwt({
      jwks: {
        keyPairConfig: { alg: env("JWT_ALG", "EdDSA") },
        rotationInterval: rotation,
        gracePeriod: rotation ? 3600 : undefined,
      },
    }),
  ],
  logger: { level: "error" },
};

const { runMigrations } = await getMigrations(options);
await runMigrations();
const auth = betterAuth(options);
server.on("request", toNodeHandler(auth));
process.stdout.write(JSON.stringify({ url }) + "\n");

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
