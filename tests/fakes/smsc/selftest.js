#!/usr/bin/env node
// The fake SMSC checked against an SMPP client that is not tinbao's: the client side of the same
// npm package. Starts smsc.js, then: a wrong password is refused (ESME_RINVPASWD) and the
// connection closed; a bind with the account's password succeeds; a submit_sm gets a message id
// and its delivery receipt (esm_class 0x04, receipted_message_id, message_state, the id:... text)
// comes back; the records show the exact PDUs; fail_next answers ESME_RTHROTTLED; hold keeps a
// submit unanswered until released; drop closes the connection; unbind is answered.
// Prints "N passed, N failed" and exits 1 on any failure.
'use strict';

const assert = require('assert');
const childProcess = require('child_process');
const http = require('http');
const path = require('path');
const smpp = require('smpp');

let passed = 0;
let failed = 0;

function check(cond, what) {
  console.log((cond ? 'ok   ' : 'FAIL ') + what);
  if (cond) passed++;
  else failed++;
}

function request(port, method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = http.request({ host: '127.0.0.1', port, method, path: p, timeout: 5000,
      headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length }
        : {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('control request timed out')));
    if (data) req.write(data);
    req.end();
  });
}

// Resolves with the first value of the event (or of fn's callback) within `ms`, else rejects.
function within(ms, what, start) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for ' + what)), ms);
    start((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

function connect(port) {
  const session = smpp.connect({ host: '127.0.0.1', port });
  session.on('error', () => {});
  return within(5000, 'connect', (done) => session.on('connect', () => done(session)));
}

function call(session, command, fields, what) {
  return within(5000, what, (done) => session[command](fields, done));
}

async function main() {
  const fake = childProcess.spawn(process.execPath,
    [path.join(__dirname, 'smsc.js'), '--account', 'ubnd-vlong:s3cret', '--receipts', 'auto'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const line = await within(10000, 'the fake SMSC to listen', (done) => {
      let buffered = '';
      fake.stdout.on('data', (c) => {
        buffered += c.toString();
        if (buffered.includes('\n')) done(buffered.split('\n')[0]);
      });
    });
    const m = /^PORT (\d+) CONTROL (\d+)$/.exec(line);
    assert(m, 'first line is PORT n CONTROL m: ' + line);
    const port = Number(m[1]);
    const control = Number(m[2]);

    // A wrong password: ESME_RINVPASWD, then the connection closes.
    let s = await connect(port);
    const closed = within(5000, 'close after a refused bind', (done) => s.on('close', done));
    let r = await call(s, 'bind_transceiver', { system_id: 'ubnd-vlong', password: 'wrong' },
      'bind_resp');
    check(r.command === 'bind_transceiver_resp' && r.command_status === smpp.ESME_RINVPASWD,
      'a wrong password is refused with ESME_RINVPASWD (0x0e)');
    await closed;
    check(true, 'the fake closes the connection after a refused bind');

    // The right one.
    s = await connect(port);
    r = await call(s, 'bind_transceiver', { system_id: 'ubnd-vlong', password: 's3cret' },
      'bind_resp');
    check(r.command_status === 0 && r.system_id === 'fake-smsc', 'the account binds');

    const receipt = within(5000, 'the delivery receipt', (done) => s.once('deliver_sm', (pdu) => {
      s.send(pdu.response());
      done(pdu);
    }));
    const text = 'Ho so H12.34-261127-0001 da co ket qua';
    r = await call(s, 'submit_sm', { source_addr_ton: 5, source_addr_npi: 0,
      source_addr: 'UBND-VLONG', dest_addr_ton: 1, dest_addr_npi: 1,
      destination_addr: '84912345678', registered_delivery: 1, data_coding: 0,
      short_message: Buffer.from(text, 'ascii') }, 'submit_sm_resp');
    check(r.command_status === 0 && /^[0-9A-F]{8}$/.test(r.message_id),
      'submit_sm answered with a message id: ' + r.message_id);
    const id = r.message_id;
    const dr = await receipt;
    const drText = Buffer.isBuffer(dr.short_message) ? dr.short_message.toString('ascii')
      : String(dr.short_message.message);
    check(dr.esm_class === 0x04 && dr.receipted_message_id === id && dr.message_state === 2 &&
      dr.source_addr === '84912345678' && dr.destination_addr === 'UBND-VLONG',
      'the receipt: esm_class 0x04, receipted_message_id, message_state DELIVERED, addresses');
    check(new RegExp('^id:' + id + ' sub:001 dlvrd:001 submit date:\\d{10} done date:\\d{10} ' +
      'stat:DELIVRD err:000 text:Ho so H12.34-261127-$').test(drText),
      'the receipt text: ' + drText);

    const seen = await within(5000, 'the deliver_sm_resp record', async (done) => {
      for (;;) {
        const pdus = await request(control, 'GET', '/pdus?command=deliver_sm_resp');
        if (pdus.length === 1) return done(pdus);
        await new Promise((res) => setTimeout(res, 20));
      }
    });
    check(seen[0].dir === 'in', 'the deliver_sm_resp is recorded');
    const submits = await request(control, 'GET', '/pdus?command=submit_sm');
    check(submits.length === 1 && JSON.stringify(submits[0].body) === JSON.stringify({
      service_type: '', source_addr_ton: 5, source_addr_npi: 0, source_addr: 'UBND-VLONG',
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '84912345678', esm_class: 0,
      protocol_id: 0, priority_flag: 0, schedule_delivery_time: '', validity_period: '',
      registered_delivery: 1, replace_if_present_flag: 0, data_coding: 0,
      sm_default_msg_id: 0, short_message: Buffer.from(text, 'ascii').toString('hex') }),
    'the submit_sm is recorded field by field: ' + JSON.stringify(submits[0] && submits[0].body));
    check(submits[0].hex.startsWith('000000') && submits[0].hex.slice(8, 16) === '00000004',
      'the record carries the PDU bytes');

    // Scripted answers: throttled once, then held until released.
    await request(control, 'POST', '/control', { fail_next: 1, status: 0x58, receipts: 'manual' });
    r = await call(s, 'submit_sm', { destination_addr: '84912345678',
      short_message: Buffer.from('a') }, 'throttled submit_sm_resp');
    check(r.command_status === smpp.ESME_RTHROTTLED, 'fail_next answers ESME_RTHROTTLED');
    await request(control, 'POST', '/control', { hold: true });
    let answered = false;
    const held = call(s, 'submit_sm', { destination_addr: '84912345678',
      short_message: Buffer.from('b') }, 'held submit_sm_resp').then((pdu) => {
      answered = true;
      return pdu;
    });
    await within(5000, 'the held submit', async (done) => {
      for (;;) {
        const st = await request(control, 'GET', '/stats');
        if (st.held === 1) return done(st);
        await new Promise((res) => setTimeout(res, 20));
      }
    });
    check(!answered, 'a held submit_sm is not answered');
    await request(control, 'POST', '/control', { release: 1 });
    r = await held;
    check(r.command_status === 0 && r.message_id, 'released, it is answered');

    // A manual receipt with a failure status, text only.
    const second = within(5000, 'the manual receipt', (done) => s.once('deliver_sm', (pdu) => {
      s.send(pdu.response());
      done(pdu);
    }));
    const sent = await request(control, 'POST', '/control', { receipt_tlvs: false,
      receipt: { message_id: r.message_id, stat: 'UNDELIV', err: '034' } });
    const dr2 = await second;
    const dr2Text = Buffer.isBuffer(dr2.short_message) ? dr2.short_message.toString('ascii')
      : String(dr2.short_message.message);
    check(sent.sent && sent.sent.sent === r.message_id && dr2.receipted_message_id === undefined &&
      / stat:UNDELIV err:034 text:b$/.test(dr2Text), 'a manual UNDELIV receipt, text only: ' +
      dr2Text);

    // unbind is answered and the fake closes.
    r = await call(s, 'unbind', {}, 'unbind_resp');
    check(r.command === 'unbind_resp' && r.command_status === 0, 'unbind is answered');

    // drop closes a bound connection.
    s = await connect(port);
    await call(s, 'bind_transmitter', { system_id: 'ubnd-vlong', password: 's3cret' }, 'bind');
    const dropped = within(5000, 'the drop', (done) => s.on('close', done));
    await request(control, 'POST', '/control', { drop: true });
    await dropped;
    check(true, 'drop closes the connection');
    const st = await request(control, 'GET', '/stats');
    check(st.binds.ok === 2 && st.binds.refused === 1 && st.submits === 3 && st.unbinds === 1 &&
      st.deliver_sm_resp === 2 && st.receipts_sent === 2,
      'the counts: ' + JSON.stringify(st));
  } catch (e) {
    check(false, e.message);
  } finally {
    fake.kill('SIGTERM');
  }
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exitCode = failed ? 1 : 0;
}

main();
