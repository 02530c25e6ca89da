import { lua, type LuaState } from '../lua/fengari.ts';
import { holdTop, pushHeld, type HeldValue } from '../lua/vm-internals.ts';
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
 * phase, as scripts that use it as a table key expect). They are held from
 * here (lua/vm-internals.ts): nothing to free at close but the references.
 */
export class SessionObjects {
  private ac: HeldValue | undefined;
  private vctx: HeldValue | undefined;
  private msg: HeldValue | undefined;
  private remoteAddrValue: HeldValue | undefined;
  private msgFor: MessageState | null = null;
  readonly remoteAddr: SockAddr;

  constructor(
    private readonly types: MsysTypes,
    readonly state: SessionState,
  ) {
    this.remoteAddr = { family: state.peer.family, ip: state.peerText, port: state.peerPort };
  }

  pushAc(L: LuaState): void {
    this.ac = pushOnce(L, this.ac, () => this.types.ac.push(L, this));
  }

  /** ac.remote_addr: one sockaddr per session, so repeated reads allocate nothing. */
  pushRemoteAddr(L: LuaState): void {
    this.remoteAddrValue = pushOnce(L, this.remoteAddrValue, () => this.types.sockaddr.push(L, this.remoteAddr));
  }

  pushVctx(L: LuaState): void {
    this.vctx = pushOnce(L, this.vctx, () => this.types.vctx.push(L, this));
  }

  /** Pushes the current transaction's msg, or nil before MAIL FROM. */
  pushMsg(L: LuaState): void {
    const message = this.state.message;
    if (message === null) {
      lua.lua_pushnil(L);
      return;
    }
    if (this.msgFor !== message) {
      this.msg = undefined;
      this.msgFor = message;
    }
    this.msg = pushOnce(L, this.msg, () => this.types.msg.push(L, { session: this, message }));
  }

  release(): void {
    this.ac = this.vctx = this.msg = this.remoteAddrValue = undefined;
    this.msgFor = null;
  }
}

/** Pushes the held value, or makes it with `create` (which pushes it) and holds it. */
function pushOnce(L: LuaState, held: HeldValue | undefined, create: () => void): HeldValue {
  if (held !== undefined) {
    pushHeld(L, held);
    return held;
  }
  create();
  return holdTop(L);
}
