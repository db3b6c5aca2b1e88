/**
 * Every command that runs inside an image, by name. Each module exports
 * `commands: Record<string, Command>`; adding a module here is all it takes.
 */

import type { Command } from '../command.js';
import { commands as ping } from './ping.js';
import { commands as traceroute } from './traceroute.js';

const modules: ReadonlyArray<Record<string, Command>> = [ping, traceroute];

export function allCommands(): Map<string, Command> {
  const m = new Map<string, Command>();
  for (const mod of modules) for (const [name, cmd] of Object.entries(mod)) m.set(name, cmd);
  return m;
}
