#!/usr/bin/env node
// The CLI is TypeScript run through tsx (a runtime dependency), so `npm start`
// and `npx moonwatch` need no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
// Explicit exit: a lingering handle (a timer, a watcher) must not keep a
// stopped server alive.
process.exit(code);
