import type { MessageRef, SessionObjects } from './session-objects.ts';
import type { EcString, SockAddr } from './sockaddr.ts';
import type { UserdataType } from './userdata.ts';

/** Every userdata type the msys modules create, defined once per VM. */
export interface MsysTypes {
  readonly sockaddr: UserdataType<SockAddr>;
  readonly ecString: UserdataType<EcString>;
  readonly ac: UserdataType<SessionObjects>;
  readonly vctx: UserdataType<SessionObjects>;
  readonly msg: UserdataType<MessageRef>;
}
