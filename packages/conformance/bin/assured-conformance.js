#!/usr/bin/env node
// The installed command. It lives outside dist/ so package managers can link it before the
// package is built (in this workspace); the CLI itself is dist/cli.js.
import "../dist/cli.js";
