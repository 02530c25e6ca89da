import { lua, lauxlib, type LuaState } from '../lua/fengari.ts';
import type { MessageState, SessionState } from './session-state.ts';
import type { SockAddr } from './sockaddr.ts';
import type { MsysTypes } from './types.ts';

/** The value carried by a msg userdata: the transaction it belongs to. */
export interface MessageRef {
  readonly session: SessionObjects;
  readonly message: MessageState;
}

/**
 * The Lua objects of one session in one VM: ac, vctx, and msg per transaction,
 * created once and reused by every callout (so `ac` is the same value in every
 * phase, as scripts that use it as a table key expect), freed at close.
 */
export class SessionObjects {
  private acRef = lua.LUA_NOREF as number;
  private vctxRef = lua.LUA_NOREF as number;
  private msgRef = lua.LUA_NOREF as number;
  private remoteAddrRef = lua.LUA_NOREF as number;
  private msgFor: MessageState | null = null;
  readonly remoteAddr: SockAddr;

  constructor(
    private readonly L: LuaState,
    private readonly types: MsysTypes,
    readonly state: SessionState,
  ) {
    this.remoteAddr = { family: state.peer.family, ip: state.peerText, port: state.peerPort };
  }

  pushAc(L: LuaState): void {
    this.acRef = this.pushCached(L, this.acRef, () => this.types.ac.push(L, this));
  }

  /** ac.remote_addr: one sockaddr per session, so repeated reads allocate nothing. */
  pushRemoteAddr(L: LuaState): void {
    this.remoteAddrRef = this.pushCached(L, this.remoteAddrRef, () => this.types.sockaddr.push(L, this.remoteAddr));
  }

  pushVctx(L: LuaState): void {
    this.vctxRef = this.pushCached(L, this.vctxRef, () => this.types.vctx.push(L, this));
  }

  /** Pushes the current transaction's msg, or nil before MAIL FROM. */
  pushMsg(L: LuaState): void {
    const message = this.state.message;
    if (message === null) {
      lua.lua_pushnil(L);
      return;
    }
    if (this.msgFor !== message) {
      this.unref(this.msgRef);
      this.msgRef = lua.LUA_NOREF as number;
      this.msgFor = message;
    }
    this.msgRef = this.pushCached(L, this.msgRef, () => this.types.msg.push(L, { session: this, message }));
  }

  release(): void {
    this.unref(this.acRef);
    this.unref(this.vctxRef);
    this.unref(this.msgRef);
    this.unref(this.remoteAddrRef);
    this.acRef = this.vctxRef = this.msgRef = this.remoteAddrRef = lua.LUA_NOREF as number;
  }

  private pushCached(L: LuaState, ref: number, create: () => void): number {
    if (ref !== lua.LUA_NOREF) {
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, ref);
      return ref;
    }
    create();
    lua.lua_pushvalue(L, -1);
    return lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX) as number;
  }

  private unref(ref: number): void {
    if (ref !== lua.LUA_NOREF) lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, ref);
  }
}
