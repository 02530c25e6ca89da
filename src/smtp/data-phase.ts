/**
 * DATA: read the message under the limits, run the data phases, deliver
 * through the sink, and only then answer. The 250 is sent after the sink
 * resolved, never before; a sink failure becomes a 4xx (or the next hop's own
 * refusal when relaying).
 */
import type { SMTPServerDataStream } from 'smtp-server';
import { errorMessage } from '../errors.ts';
import type { AcceptedMessage } from '../policy/session-api.ts';
import type { PolicyConnection } from './connection.ts';
import { HOST_FAULT_VERDICT, queueIdOf } from './dialogue.ts';
import { RelayRejectedError } from './errors.ts';
import { readMessage, type ViolationKind } from './message-reader.ts';
import { receivedHeaderBytes } from './received.ts';
import { protocolReply, replyForVerdict, type SmtpReply } from './reply.ts';

export async function runDataPhase(
  conn: PolicyConnection,
  stream: SMTPServerDataStream,
  callback: (err?: Error | null, message?: string) => void,
): Promise<void> {
  const { limits, hostname } = conn.ctx;
  const policy = conn.policy;
  // The trace header goes in front in the same copy that joins the chunks.
  // (Closures here are passed inline: under tsx a named one costs a
  // defineProperty every time it is created, and this runs for every message.)
  const result = await readMessage(stream, { maxBytes: limits.maxMessageBytes, maxLineLength: limits.maxLineLength }, () =>
    receivedHeaderBytes({
      helo: conn.hostNameAppearsAs || '',
      address: conn.remoteAddress,
      hostname,
      protocol: conn._transmissionType(),
      id: policy.id,
      recipients: conn.session.envelope.rcptTo.map((r) => r.address),
      nowMs: conn.ctx.clock.now(),
    }),
    conn,
  );
  // The client went away: there is nobody to answer, and the session is closed.
  if (conn.isFinished) return;
  if (!result.ok) {
    if (result.violation === 'aborted') return;
    conn.log.info({ violation: result.violation, bytes: result.bytes }, 'message refused by limits');
    conn.answer(violationReply(result.violation, limits.maxMessageBytes, limits.maxLineLength), true, callback);
    finishTransaction(conn, false);
    return;
  }
  const raw = result.raw;
  let sinkError: unknown;
  let storedAs = '';
  let verdict;
  let report = false;
  try {
    verdict = await policy.data({ raw }, async (message: AcceptedMessage): Promise<void> => {
      try {
        storedAs = await conn.ctx.sink.deliver(message);
      } catch (err) {
        sinkError = err;
        conn.log.error({ sink: conn.ctx.sink.type, err: errorMessage(err), code: (err as { code?: string }).code }, 'delivery failed');
        throw err;
      }
    });
  } catch (err) {
    conn.log.error({ phase: 'data', err: errorMessage(err) }, 'policy phase failed');
    verdict = HOST_FAULT_VERDICT;
    report = true;
  }
  if (verdict.tarpitMs > 0) await conn.tarpitFor(verdict.tarpitMs);
  let reply: SmtpReply | undefined = replyForVerdict(verdict, 'data', hostname);
  if (reply !== undefined && sinkError instanceof RelayRejectedError) {
    // The next hop's own refusal means more to the client than a generic 451.
    const r = sinkError.reply;
    reply = protocolReply(r.code, r.enhanced === '' ? (r.code >= 500 ? '5.0.0' : '4.0.0') : r.enhanced, r.text, reply.close);
  }
  const queueId = queueIdOf(policy.id, conn.dialogue.transaction);
  if (reply === undefined && conn.ctx.logger.isLevelEnabled('debug')) {
    conn.log.debug({ queue_id: queueId, bytes: raw.length, recipients: conn.session.envelope.rcptTo.length, sink: conn.ctx.sink.type, stored: storedAs }, 'message accepted');
  }
  conn.answer(reply, report, callback, undefined, conn.ctx.replies.queued(queueId));
  finishTransaction(conn, reply === undefined, queueId);
}

function finishTransaction(conn: PolicyConnection, accepted: boolean, queueId?: string): void {
  conn.markTransactionDone(accepted, queueId);
  conn.armDeadline();
}

function violationReply(kind: ViolationKind, maxBytes: number, maxLine: number): SmtpReply {
  switch (kind) {
    case 'size':
      return protocolReply(552, '5.3.4', `Message size exceeds fixed maximum message size (${maxBytes} bytes)`);
    case 'line-length':
      return protocolReply(550, '5.6.0', `Message refused: a line is longer than ${maxLine} octets`);
    case 'bare-lf':
      return protocolReply(550, '5.5.2', 'Message refused: bare <LF> received (lines must end with <CR><LF>)');
    case 'bare-cr':
      return protocolReply(550, '5.5.2', 'Message refused: bare <CR> received (lines must end with <CR><LF>)');
  }
}
