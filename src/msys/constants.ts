/**
 * msys.core constants. Momentum does not document the numeric values (scripts
 * compare by name), so they follow spec lua-policy-api §2.3 [REC] and Linux
 * where a POSIX value exists. The vctx and msg context selectors share values
 * so that a script mixing VCTX_CONN and ECMESS_CTX_CONN still works.
 */
export const VALIDATE = { CONT: 0, DONE: 1, AGAIN: 2 } as const;

export const CONTEXT = { CONN: 1, MESS: 2 } as const;

export const CORE_CONSTANTS: Readonly<Record<string, number>> = Object.freeze({
  VALIDATE_CONT: VALIDATE.CONT,
  VALIDATE_DONE: VALIDATE.DONE,
  VALIDATE_AGAIN: VALIDATE.AGAIN,
  VCTX_CONN: CONTEXT.CONN,
  VCTX_MESS: CONTEXT.MESS,
  ECMESS_CTX_CONN: CONTEXT.CONN,
  ECMESS_CTX_MESS: CONTEXT.MESS,
  AF_INET: 2,
  AF_INET6: 10,
  P_ESMTP: 1,
  O_RDONLY: 0,
  O_WRONLY: 1,
  O_RDWR: 2,
  O_CREAT: 64,
  O_EXCL: 128,
  O_TRUNC: 512,
  O_APPEND: 1024,
  EC_MSG_ENV_FROM: 1,
  EC_MSG_ENV_TO: 2,
});

/** Longest tarpit one call may ask for; a script asking for hours is a bug, not a policy. */
export const MAX_TARPIT_SECONDS = 300;
