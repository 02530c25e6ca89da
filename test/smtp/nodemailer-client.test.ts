/** Interop with a real, widely used SMTP client (nodemailer), over IPv4 and IPv6. */
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PHASE_POLICY } from './lib/policies.ts';
import { startTestServer, type TestServer } from './lib/server-harness.ts';

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ scripts: { phases: PHASE_POLICY } });
});

afterAll(async () => {
  await srv.stop();
});

describe('nodemailer as the client', () => {
  for (const v6 of [false, true]) {
    it(`delivers to the accepted recipient and reports the refused one (${v6 ? '::1' : '127.0.0.1'})`, async () => {
      const transport = nodemailer.createTransport({ host: v6 ? '::1' : '127.0.0.1', port: v6 ? srv.port6 : srv.port4, secure: false, ignoreTLS: true });
      try {
        const info = await transport.sendMail({
          from: 'a@sender.example',
          to: ['alice@example.test', 'nobody@example.test'],
          subject: 'interop',
          text: 'hello\n.\nwith a lone dot line',
        });
        expect(info.accepted).toEqual(['alice@example.test']);
        expect(info.rejected).toEqual(['nobody@example.test']);
        expect(info.response).toMatch(/^250 2\.6\.0 Ok: queued as /);
      } finally {
        transport.close();
      }
    });
  }

  it('surfaces a policy rejection at MAIL FROM as an error with its code', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: srv.port4, secure: false, ignoreTLS: true });
    try {
      await expect(transport.sendMail({ from: 'spam@bad.example', to: 'alice@example.test', text: 'x' })).rejects.toMatchObject({
        responseCode: 550,
        response: '550 5.7.1 Sender blocked',
      });
    } finally {
      transport.close();
    }
  });
});
