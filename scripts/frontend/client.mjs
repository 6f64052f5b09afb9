// The generated client as a frontend gets it: @hey-api/openapi-ts generates it from the document
// the API at API_URL serves, `tsc --strict` type-checks it with flows.ts (the seeds' flows written
// against it), and Node runs them. Run by e2e/tests/frontend.rs; fails on the first problem.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const api = process.env.API_URL;
if (!api) throw new Error('API_URL must be set');

rmSync('generated', { recursive: true, force: true });
const run = (command, args, env = {}) =>
  execFileSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
run('node_modules/.bin/openapi-ts', [], { OPENAPI_INPUT: `${api}/openapi.json` });
run('node_modules/.bin/tsc', ['--strict', '-p', 'tsconfig.json']);
run(process.execPath, ['generated/dist/flows.js']);
