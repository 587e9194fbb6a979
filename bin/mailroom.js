#!/usr/bin/env node
// The `mailroom` command. Runs the TypeScript sources through tsx's loader, so there is no build
// step between `npm install` and a working command.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
// main has returned and said how it went. Whatever still holds the event loop now (a connection a
// service failed to close within its stop timeout) must not keep the process up: `start` promises
// to exit within 10 s of SIGTERM. Unref'd, so a process with nothing left exits at once as before.
setTimeout(() => process.exit(), 500).unref();
