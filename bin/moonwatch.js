#!/usr/bin/env node
// The installed package runs the compiled JavaScript in dist/ (built by
// `npm run build`, which `npm ci`, `npm pack` and `npm start` run for you).
// In a checkout, a dist/ older than any file in src/ is stale and the
// TypeScript sources run through tsx (a development dependency) instead, so an
// edit is never shadowed by an old build; MOONWATCH_FROM_SOURCE=1 forces that.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/cli/main.js', import.meta.url);
const src = new URL('../src/', import.meta.url);

function builtIsCurrent() {
  if (process.env.MOONWATCH_FROM_SOURCE === '1' || !existsSync(built)) return false;
  if (!existsSync(src)) return true; // an installed package: dist/ is all there is
  const builtAt = statSync(built).mtimeMs;
  const dir = fileURLToPath(src);
  for (const f of readdirSync(dir, { recursive: true })) {
    if (String(f).endsWith('.ts') && statSync(`${dir}/${f}`).mtimeMs > builtAt) return false;
  }
  return true;
}

let main;
if (builtIsCurrent()) {
  ({ main } = await import(built.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
const code = await main(process.argv.slice(2));
// Explicit exit: a lingering handle (a timer, a watcher) must not keep a
// stopped server alive.
process.exit(code);
