#!/usr/bin/env node
// A fake SMSC for tests and benchmarks: the server side of the npm package `smpp` (SMPP 3.4 as
// its specification describes it: https://smpp.org/SMPP_v3_4_Issue1_2.pdf) playing a telco's
// message centre on loopback. Runs on Node.js 18 (Debian 12's) and later; nothing else is needed
// but `npm ci` in this folder.
//
// Usage: node smsc.js [--account SYSTEM_ID:PASSWORD]... [--bind-fail-status 0x0e]
//                     [--receipts auto|manual] [--receipt-stat DELIVRD] [--record FILE]
//                     [--no-record] [--id-base 0x5a000001] [--refuse-transceiver]
//                     [--tls-key KEY.pem --tls-cert CERT.pem]
//
// Prints "PORT <smpp port> CONTROL <http port>" as its first stdout line once both listen on
// 127.0.0.1 (ports chosen by the system). With --tls-key and --tls-cert the SMPP port speaks
// TLS (SMPP over TLS, the package's secure server) with that key and certificate. Stops on
// SIGTERM.
//
// As an SMSC it:
//   - answers bind_transmitter / bind_receiver / bind_transceiver: an account's system_id and
//     password bind (system_id "fake-smsc"); a wrong password answers --bind-fail-status
//     (ESME_RINVPASWD 0x0e unless told; ESME_RBINDFAIL 0x0d is the other usual one), an
//     unknown system_id ESME_RINVSYSID 0x0f, a second bind on one connection ESME_RALYBND, and
//     any other PDU before a bind ESME_RINVBNDSTS; a refused bind is followed by closing the
//     connection, as message centres do; with --refuse-transceiver (an SMSC that wants a
//     transmitter and a receiver), bind_transceiver answers ESME_RINVCMDID; a submit_sm on a
//     receiver session answers ESME_RINVBNDSTS;
//   - answers submit_sm with a message id (8 upper-case hex digits counting up from --id-base);
//   - with --receipts auto, sends each accepted submit_sm's delivery receipt at once, as a
//     deliver_sm with esm_class 0x04, the receipted_message_id and message_state TLVs and the
//     text "id:<id> sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:<stat>
//     err:<err> text:<first 20 octets>" (the format of the specification's appendix B), over a
//     receiver or transceiver session of the same system_id;
//   - answers enquire_link, unbind (then closes), deliver_sm_resp is taken as it comes, and an
//     unknown command gets generic_nack ESME_RINVCMDID.
//
// Every PDU received or sent is recorded as one JSON object (with --record FILE also as one JSON
// line of that file): {"n": order, "session": connection number, "dir": "in" | "out", "command",
// "command_id", "command_status", "sequence_number", "body": {mandatory fields in the order of
// the specification}, "tlvs": {name or decimal tag: value}, "hex": the whole PDU}. Integers stay
// numbers, C-octet strings stay text, octet strings (short_message, message_payload, TLVs of
// bytes) are lower-case hex. --no-record keeps counts only (benchmarks).
//
// The control channel is HTTP on the CONTROL port (loopback only):
//   GET  /pdus[?command=submit_sm&dir=in]  the records, as a JSON array
//   GET  /stats                            counts: binds (by result), sessions open, submits,
//                                          distinct short_message/message_payload bodies, first
//                                          and last submit time (ms), receipts sent
//   POST /control {...}                    any of, applied in this order:
//     "reset": true             forget the records, the counts and every scripted answer
//     "password": {"id": "pw"}  change (or add) an account's password
//     "bind_fail_status": n     the status a wrong password gets from now on
//     "drop": true              close every connection at once; the submit_sm held on them are
//                               never answered; "drop": "bind_receiver" closes only the
//                               sessions bound so (or "bind_transmitter", "bind_transceiver")
//     "fail_next": n, "status": s   answer the next n submit_sm with command_status s (and no
//                               message id): 0x58 ESME_RTHROTTLED, 0x14 ESME_RMSGQFUL, or any
//                               code; several calls queue up in order; with "after": k, the
//                               k submit_sm before them are answered as usual
//     "refuse_transceiver": true | false   as --refuse-transceiver
//     "refuse_bind": {"bind_receiver": s}  answer that kind of bind with command_status s (then
//                               close), whatever the account; {} binds them again
//     "hold": true | false      hold the answers of submit_sm (record them, answer nothing) until
//                               released; false answers every held one now
//     "release": k              answer the k oldest held submit_sm
//     "silent": true | false    answer nothing at all (enquire_link and unbind included)
//     "receipts": "auto" | "manual"; "receipt_stat": "DELIVRD"; "receipt_err": "000"
//     "receipt_tlvs": true | false  with false, receipts carry only the text (no TLVs)
//     "receipt": {"message_id", "stat", "err"}  send one receipt now (for an id this process
//                               gave; "stat" DELIVRD unless told)
//     "mo": {"source_addr", "to", "text", "times"}  send a deliver_sm that is not a receipt (a
//                               subscriber's SMS); "times": n sends it n times, the same fields
//                               each with its own sequence number, as an SMSC does when it sends
//                               a message again (its deliver_sm_resp lost or not ESME_ROK)
//   and answers {"ok": true, "held": count, "sessions": count, "now_ms": its clock,
//   "sent": {...}}. /stats also counts the TCP connections accepted ("connections") and the TLS
//   handshakes that failed ("tls_errors").
'use strict';

const http = require('http');
const fs = require('fs');
const smpp = require('smpp');

// Raw values: the package's decoding filters (GSM/UCS-2 text, UDH split, SMPP times) are turned
// off, so a test sees the bytes on the wire and receipts are built byte for byte here.
for (const name of Object.keys(smpp.commands)) {
  const params = smpp.commands[name].params || {};
  for (const key of Object.keys(params)) delete params[key].filter;
}
for (const name of Object.keys(smpp.tlvs)) delete smpp.tlvs[name].filter;

// Keep each PDU's bytes for the record.
const fromBuffer = smpp.PDU.prototype.fromBuffer;
smpp.PDU.prototype.fromBuffer = function (buffer) {
  Object.defineProperty(this, 'wire', { value: Buffer.from(buffer), enumerable: false });
  return fromBuffer.call(this, buffer);
};

const HEAD = new Set(['command', 'command_length', 'command_id', 'command_status',
  'sequence_number']);
const MESSAGE_STATE = { DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7,
  REJECTD: 8 };
const BIND = new Set(['bind_transmitter', 'bind_receiver', 'bind_transceiver']);

function parseArgs(argv) {
  const o = { accounts: {}, bindFailStatus: 0x0e, receipts: 'manual', receiptStat: 'DELIVRD',
    record: null, keep: true, idBase: 0x5a000001, refuseTransceiver: false, tlsKey: null,
    tlsCert: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(a + ' needs a value');
      return argv[++i];
    };
    if (a === '--account') {
      const v = next();
      const colon = v.indexOf(':');
      if (colon < 1) throw new Error('--account is SYSTEM_ID:PASSWORD');
      o.accounts[v.slice(0, colon)] = v.slice(colon + 1);
    } else if (a === '--bind-fail-status') o.bindFailStatus = Number(next());
    else if (a === '--receipts') o.receipts = next();
    else if (a === '--receipt-stat') o.receiptStat = next();
    else if (a === '--record') o.record = next();
    else if (a === '--no-record') o.keep = false;
    else if (a === '--id-base') o.idBase = Number(next());
    else if (a === '--refuse-transceiver') o.refuseTransceiver = true;
    else if (a === '--tls-key') o.tlsKey = next();
    else if (a === '--tls-cert') o.tlsCert = next();
    else throw new Error('unknown argument ' + a);
  }
  if (!['auto', 'manual'].includes(o.receipts)) throw new Error('--receipts is auto or manual');
  if (Boolean(o.tlsKey) !== Boolean(o.tlsCert)) throw new Error('--tls-key with --tls-cert');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const state = {
  accounts: Object.assign({}, opts.accounts),
  bindFailStatus: opts.bindFailStatus,
  receipts: opts.receipts,
  receiptStat: opts.receiptStat,
  receiptErr: '000',
  receiptTlvs: true,
  failures: [], // [{skip, left, status}]
  refuseTransceiver: opts.refuseTransceiver,
  refuseBind: {}, // bind command -> command_status
  hold: false,
  held: [], // {session, pdu}
  silent: false,
  records: [],
  n: 0,
  nextId: opts.idBase,
  submitted: new Map(), // message id -> {pdu fields, session system_id, time}
  stats: null,
};
const recordFile = opts.record ? fs.openSync(opts.record, 'a') : null;
let sessionCount = 0;
const sessions = new Set();

function resetStats() {
  state.stats = { binds: { ok: 0, refused: 0 }, submits: 0, bodies: new Set(),
    first_submit_ms: null, last_submit_ms: null, receipts_sent: 0, deliver_sm_resp: 0,
    submit_resp_ok: 0, submit_resp_error: 0, enquire_links: 0, unbinds: 0, connections: 0,
    tls_errors: 0 };
}
resetStats();

function jsonValue(v) {
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (Array.isArray(v)) return v.map(jsonValue);
  return v;
}

function record(session, dir, pdu, wire) {
  if (!opts.keep) return;
  const body = {};
  const tlvs = {};
  const params = (smpp.commands[pdu.command] || {}).params || {};
  for (const key of Object.keys(params)) if (key in pdu) body[key] = jsonValue(pdu[key]);
  for (const key of Object.keys(pdu)) {
    if (HEAD.has(key) || key in params || typeof pdu[key] === 'function') continue;
    tlvs[key] = jsonValue(pdu[key]);
  }
  const entry = { n: ++state.n, session: session.id, dir, command: pdu.command,
    command_id: pdu.command_id, command_status: pdu.command_status,
    sequence_number: pdu.sequence_number, body, tlvs, hex: wire ? wire.toString('hex') : null };
  state.records.push(entry);
  if (recordFile !== null) fs.writeSync(recordFile, JSON.stringify(entry) + '\n');
}

function send(session, pdu) {
  if (!pdu.isResponse() && !pdu.sequence_number) {
    // What session.send() would do, done first so that the record shows the number sent.
    if (session.sequence === 0x7fffffff) session.sequence = 0;
    pdu.sequence_number = ++session.sequence;
  }
  const wire = pdu.toBuffer();
  // send() serialises again: the same bytes.
  record(session, 'out', pdu, wire);
  return session.send(pdu);
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

function smppDate(ms) {
  const d = new Date(ms);
  return pad2(d.getUTCFullYear() % 100) + pad2(d.getUTCMonth() + 1) + pad2(d.getUTCDate()) +
    pad2(d.getUTCHours()) + pad2(d.getUTCMinutes());
}

function receiverFor(systemId) {
  for (const s of sessions) {
    if (s.systemId === systemId && (s.mode === 'bind_receiver' || s.mode === 'bind_transceiver')
        && !s.closing) return s;
  }
  return null;
}

function sendReceipt(messageId, stat, err) {
  const sub = state.submitted.get(messageId);
  if (!sub) return { error: 'no message ' + messageId };
  const target = receiverFor(sub.systemId);
  if (!target) return { error: 'no receiver bound for ' + sub.systemId };
  let text = Buffer.alloc(0);
  if (sub.data_coding === 0 || sub.data_coding === 1) text = sub.text.slice(0, 20);
  const head = Buffer.from('id:' + messageId + ' sub:001 dlvrd:' +
    (stat === 'DELIVRD' ? '001' : '000') + ' submit date:' + smppDate(sub.time) +
    ' done date:' + smppDate(Date.now()) + ' stat:' + stat + ' err:' + err + ' text:', 'ascii');
  const fields = {
    service_type: '',
    source_addr_ton: sub.dest_addr_ton, source_addr_npi: sub.dest_addr_npi,
    source_addr: sub.destination_addr,
    dest_addr_ton: sub.source_addr_ton, dest_addr_npi: sub.source_addr_npi,
    destination_addr: sub.source_addr,
    esm_class: 0x04, data_coding: 0,
    short_message: Buffer.concat([head, text]),
  };
  if (state.receiptTlvs) {
    fields.receipted_message_id = messageId;
    fields.message_state = MESSAGE_STATE[stat] || 7;
  }
  send(target, new smpp.PDU('deliver_sm', fields));
  state.stats.receipts_sent++;
  return { sent: messageId };
}

function answerSubmit(session, pdu) {
  if (session.closing) return;
  const failure = state.failures[0];
  if (failure && failure.skip > 0) failure.skip--;
  else if (failure) {
    if (--failure.left <= 0) state.failures.shift();
    state.stats.submit_resp_error++;
    send(session, pdu.response({ command_status: failure.status }));
    return;
  }
  const id = state.nextId.toString(16).toUpperCase().padStart(8, '0');
  state.nextId++;
  const sm = pdu.short_message && pdu.short_message.length ? pdu.short_message
    : (pdu.message_payload || Buffer.alloc(0));
  state.submitted.set(id, { systemId: session.systemId, time: Date.now(),
    source_addr_ton: pdu.source_addr_ton, source_addr_npi: pdu.source_addr_npi,
    source_addr: pdu.source_addr, dest_addr_ton: pdu.dest_addr_ton,
    dest_addr_npi: pdu.dest_addr_npi, destination_addr: pdu.destination_addr,
    data_coding: pdu.data_coding,
    text: (pdu.esm_class & 0x40) && sm.length ? sm.slice(sm[0] + 1) : sm });
  state.stats.submit_resp_ok++;
  send(session, pdu.response({ message_id: id }));
  if (state.receipts === 'auto' && pdu.registered_delivery & 0x01) {
    sendReceipt(id, state.receiptStat, state.receiptStat === 'DELIVRD' ? '000' : state.receiptErr);
  }
}

function onPdu(session, pdu) {
  record(session, 'in', pdu, pdu.wire);
  if (pdu.isResponse()) {
    if (pdu.command === 'deliver_sm_resp') state.stats.deliver_sm_resp++;
    return;
  }
  if (state.silent) return;
  if (BIND.has(pdu.command)) {
    let status = 0;
    if (session.mode) status = smpp.ESME_RALYBND;
    else if (pdu.command === 'bind_transceiver' && state.refuseTransceiver) {
      status = smpp.ESME_RINVCMDID;
    } else if (state.refuseBind[pdu.command]) status = Number(state.refuseBind[pdu.command]);
    else if (!(pdu.system_id in state.accounts)) status = smpp.ESME_RINVSYSID;
    else if (state.accounts[pdu.system_id] !== pdu.password) status = state.bindFailStatus;
    if (status !== 0) {
      state.stats.binds.refused++;
      send(session, pdu.response({ command_status: status }));
      if (!session.mode) {
        session.closing = true;
        session.close();
      }
      return;
    }
    state.stats.binds.ok++;
    session.mode = pdu.command;
    session.systemId = pdu.system_id;
    send(session, pdu.response({ system_id: 'fake-smsc' }));
    return;
  }
  if (pdu.command === 'unknown') {
    send(session, pdu.response());
    return;
  }
  if (pdu.command === 'enquire_link') {
    state.stats.enquire_links++;
    send(session, pdu.response());
    return;
  }
  if (pdu.command === 'unbind') {
    state.stats.unbinds++;
    send(session, pdu.response());
    session.closing = true;
    session.close();
    return;
  }
  if (!session.mode) {
    send(session, pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
    return;
  }
  if (pdu.command === 'submit_sm') {
    if (session.mode === 'bind_receiver') {
      send(session, pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    const now = Date.now();
    state.stats.submits++;
    if (state.stats.first_submit_ms === null) state.stats.first_submit_ms = now;
    state.stats.last_submit_ms = now;
    const sm = pdu.short_message && pdu.short_message.length ? pdu.short_message
      : pdu.message_payload;
    if (sm) state.stats.bodies.add(sm.toString('hex'));
    if (state.hold) {
      state.held.push({ session, pdu });
      return;
    }
    answerSubmit(session, pdu);
    return;
  }
  // Anything else this message centre does not offer (query_sm, replace_sm, ...).
  send(session, pdu.response({ command_status: smpp.ESME_RINVCMDID }));
}

const serverOptions = opts.tlsKey
  ? { key: fs.readFileSync(opts.tlsKey), cert: fs.readFileSync(opts.tlsCert) } : {};
const server = smpp.createServer(serverOptions, (session) => {
  session.id = ++sessionCount;
  session.mode = null;
  session.closing = false;
  sessions.add(session);
  session.on('pdu', (pdu) => onPdu(session, pdu));
  session.on('error', () => {}); // a peer's reset: 'close' follows
  session.on('close', () => {
    sessions.delete(session);
    state.held = state.held.filter((h) => h.session !== session);
  });
});

// Every TCP connection, whether or not its TLS handshake succeeds.
server.on('connection', () => { state.stats.connections++; });
server.on('tlsClientError', () => { state.stats.tls_errors++; });

function release(k) {
  const batch = state.held.splice(0, k);
  for (const h of batch) answerSubmit(h.session, h.pdu);
}

function control(spec) {
  const out = {};
  if (spec.reset) {
    state.records = [];
    state.failures = [];
    state.held = [];
    state.hold = false;
    state.silent = false;
    resetStats();
  }
  if (spec.password) Object.assign(state.accounts, spec.password);
  if ('bind_fail_status' in spec) state.bindFailStatus = Number(spec.bind_fail_status);
  if (spec.drop) {
    for (const s of sessions) {
      if (typeof spec.drop === 'string' && s.mode !== spec.drop) continue;
      state.held = state.held.filter((h) => h.session !== s);
      s.closing = true;
      s.destroy();
    }
  }
  if ('fail_next' in spec) {
    state.failures.push({ skip: Number(spec.after || 0), left: Number(spec.fail_next),
      status: Number(spec.status) });
  }
  if ('refuse_transceiver' in spec) state.refuseTransceiver = Boolean(spec.refuse_transceiver);
  if ('refuse_bind' in spec) state.refuseBind = Object.assign({}, spec.refuse_bind);
  if ('hold' in spec) {
    state.hold = Boolean(spec.hold);
    if (!state.hold) release(state.held.length);
  }
  if ('release' in spec) release(Number(spec.release));
  if ('silent' in spec) state.silent = Boolean(spec.silent);
  if ('receipts' in spec) state.receipts = spec.receipts;
  if ('receipt_stat' in spec) state.receiptStat = spec.receipt_stat;
  if ('receipt_err' in spec) state.receiptErr = spec.receipt_err;
  if ('receipt_tlvs' in spec) state.receiptTlvs = Boolean(spec.receipt_tlvs);
  if (spec.receipt) {
    const r = spec.receipt;
    const stat = r.stat || 'DELIVRD';
    out.sent = sendReceipt(String(r.message_id), stat, r.err || (stat === 'DELIVRD' ? '000'
      : state.receiptErr));
  }
  if (spec.mo) {
    const target = [...sessions].find((s) => s.mode === 'bind_receiver' ||
      s.mode === 'bind_transceiver');
    if (target) {
      const times = Math.max(1, Number(spec.mo.times || 1));
      for (let k = 0; k < times; k++) {
        send(target, new smpp.PDU('deliver_sm', { source_addr_ton: 1, source_addr_npi: 1,
          source_addr: spec.mo.source_addr, dest_addr_ton: 5, destination_addr: spec.mo.to || '',
          esm_class: 0, data_coding: 0, short_message: Buffer.from(spec.mo.text || '', 'ascii') }));
      }
      out.sent = { mo: true };
    } else {
      out.sent = { error: 'no receiver bound' };
    }
  }
  return Object.assign({ ok: true, held: state.held.length, sessions: sessions.size,
    now_ms: Date.now() }, out);
}

function stats() {
  const s = state.stats;
  const open = [...sessions].filter((x) => x.mode).map((x) => ({ session: x.id, mode: x.mode,
    system_id: x.systemId }));
  return { binds: s.binds, bound: open, submits: s.submits, distinct_bodies: s.bodies.size,
    first_submit_ms: s.first_submit_ms, last_submit_ms: s.last_submit_ms,
    receipts_sent: s.receipts_sent, deliver_sm_resp: s.deliver_sm_resp,
    submit_resp_ok: s.submit_resp_ok, submit_resp_error: s.submit_resp_error,
    enquire_links: s.enquire_links, unbinds: s.unbinds, held: state.held.length,
    connections: s.connections, tls_errors: s.tls_errors };
}

function reply(res, code, body) {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const controlServer = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/pdus') {
    const command = url.searchParams.get('command');
    const dir = url.searchParams.get('dir');
    reply(res, 200, state.records.filter((r) => (!command || r.command === command) &&
      (!dir || r.dir === dir)));
    return;
  }
  if (req.method === 'GET' && url.pathname === '/stats') {
    reply(res, 200, stats());
    return;
  }
  if (req.method === 'POST' && url.pathname === '/control') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let spec;
      try {
        spec = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch (e) {
        reply(res, 400, { error: 'not JSON: ' + e.message });
        return;
      }
      reply(res, 200, control(spec));
    });
    return;
  }
  reply(res, 404, { error: 'not found' });
});

function stop() {
  for (const s of sessions) s.destroy();
  server.close();
  controlServer.close();
  if (recordFile !== null) fs.closeSync(recordFile);
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.listen(0, '127.0.0.1', () => {
  controlServer.listen(0, '127.0.0.1', () => {
    process.stdout.write('PORT ' + server.address().port + ' CONTROL ' +
      controlServer.address().port + '\n');
  });
});
