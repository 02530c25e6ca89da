import { MoonwatchError } from '../errors.ts';

/** A script passed a bad argument to an msys function; surfaces as a Lua error. */
export class LuaArgumentError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_LUA_ARG', message);
  }
}

/** An msys function was called where it cannot work (e.g. no connected peer in init). */
export class LuaContextError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_LUA_CONTEXT', message);
  }
}
