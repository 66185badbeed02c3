#!/usr/bin/env node
// Runs a command with the provider stand-in listening, its base URL in BYOK_STANDIN_URL.
// The browser tests read that variable at compile time (option_env!), so a fixed port keeps
// the test build cached between runs; a busy port falls back to a free one.
//   node scripts/with-standin.mjs <command> [args...]
import { spawn } from 'node:child_process';
import { startStandin } from '../tests/standin/server.mjs';

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: with-standin.mjs <command> [args...]');
  process.exit(2);
}
let standin;
try {
  standin = await startStandin({ port: 18787 });
} catch (e) {
  if (e.code !== 'EADDRINUSE') throw e;
  standin = await startStandin({ port: 0 });
}
console.log(`[with-standin] provider stand-in at ${standin.url}`);
const child = spawn(cmd, args, {
  stdio: 'inherit',
  env: { ...process.env, BYOK_STANDIN_URL: standin.url },
});
const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(signal ? 1 : c)));
await standin.close();
process.exit(code);
