// The Node.js runtime of the embedded OpenWhisk: one action per process, OpenWhisk's /init + /run protocol.
//
// Started by the invoker as `node [--max-old-space-size=MB] nodejs_proxy.js LISTEN_FD WORKDIR CODE_MAX_BYTES`.
// It serves HTTP/1.1 keep-alive on the inherited listening socket (a Unix socket only the invoker can
// reach). A zipped action may unpack to at most CODE_MAX_BYTES (0 = no cap). Semantics follow
// openwhisk-runtime-nodejs:
//   /init once (second -> 403), source code (`main` or module.exports/exports.main) or a base64 zip whose
//   package.json `main` (or index.js) exports the entry point;
//   /run: string-valued top-level keys -> process.env.__OW_<KEY>; undefined -> {}; a non-object result ->
//   502 "The action did not return a dictionary."; a synchronous throw -> 502 "An error has occurred: ..."
//   (the runtime then refuses further runs); a rejected promise -> 200 {"error": <serialized error>}.
// After every activation (and a failed init) the sentinel line goes to stdout and stderr, just before the
// response: when the response arrives the invoker has the activation's whole logs.
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');

const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';
const listenFd = Number(process.argv[2]);
const workdir = process.argv[3];
const codeMax = Number(process.argv[4] || 0);

// process.env as actions see it: the real environment, except that __OW_* keys live in `owValues`. Assigning
// to the real environment calls setenv(3), and glibc keeps every string setenv ever made: with fresh
// activation and transaction ids on every /run the runtime grew ~285 bytes per activation. Actions read and
// change the __OW_* values as before and child processes get them (child_process copies process.env); only
// native code calling getenv() does not see them.
const owValues = Object.create(null);
const isOw = (key) => typeof key === 'string' && key.startsWith('__OW_');
const owned = (key) => isOw(key) && key in owValues;
process.env = new Proxy(process.env, {
  get: (env, key) => (owned(key) ? owValues[key] : env[key]),
  set: (env, key, value) => {
    if (isOw(key)) owValues[key] = String(value);
    else env[key] = value;
    return true;
  },
  has: (env, key) => owned(key) || key in env,
  deleteProperty: (env, key) => {
    if (isOw(key)) delete owValues[key];
    return delete env[key];
  },
  ownKeys: (env) => [...new Set([...Reflect.ownKeys(env), ...Object.keys(owValues)])],
  getOwnPropertyDescriptor: (env, key) => (owned(key)
    ? { value: owValues[key], writable: true, enumerable: true, configurable: true }
    : Reflect.getOwnPropertyDescriptor(env, key)),
});

let status = 'ready'; // ready -> initialised -> running/stopped
let initialised = false;
let actionMain = null;
let active = 0;

function endActivation() {
  process.stdout.write(SENTINEL + '\n');
  process.stderr.write(SENTINEL + '\n');
}

function reply(res, code, payload) {
  const body = Buffer.from(JSON.stringify(payload));
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

// Minimal zip reader (stored and deflated entries, no zip64): returns [{name, data}].
function unzip(buffer) {
  const zlib = require('zlib');
  let eocd = -1;
  for (let i = buffer.length - 22; i >= Math.max(0, buffer.length - 65557); i--) {
    if (buffer.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('the code is not a zip file (no end of central directory)');
  const count = buffer.readUInt16LE(eocd + 10);
  let offset = buffer.readUInt32LE(eocd + 16);
  const entries = [];
  let unpacked = 0;
  for (let n = 0; n < count; n++) {
    if (buffer.readUInt32LE(offset) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = buffer.readUInt16LE(offset + 10);
    const compressed = buffer.readUInt32LE(offset + 20);
    const size = buffer.readUInt32LE(offset + 24);
    const nameLength = buffer.readUInt16LE(offset + 28);
    const extraLength = buffer.readUInt16LE(offset + 30);
    const commentLength = buffer.readUInt16LE(offset + 32);
    const local = buffer.readUInt32LE(offset + 42);
    const name = buffer.toString('utf8', offset + 46, offset + 46 + nameLength);
    offset += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith('/')) continue;
    unpacked += size;
    if (codeMax > 0 && unpacked > codeMax) {
      throw new Error(`the zip file unpacks to more than the allowed ${codeMax} bytes; ship less code or raise the pool's code size limit`);
    }
    if (path.isAbsolute(name) || name.split(/[\\/]/).includes('..')) throw new Error(`unsafe path in zip: ${name}`);
    const start = local + 30 + buffer.readUInt16LE(local + 26) + buffer.readUInt16LE(local + 28);
    const raw = buffer.subarray(start, start + compressed);
    if (method === 0) entries.push({ name, data: raw });
    else if (method === 8) {
      // the declared size bounds the output: a lying header cannot inflate past it
      const data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, size) });
      entries.push({ name, data });
    }
    else throw new Error(`unsupported zip compression method ${method} for ${name}`);
  }
  return entries;
}

function loadSource(code, mainName) {
  const file = path.join(workdir, 'action', 'index.js');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const module = { exports: {} };
  const localRequire = require('module').createRequire(file);
  const pick = /^[A-Za-z_$][\w$]*$/.test(mainName)
    ? `\n;return typeof ${mainName} === 'function' ? ${mainName} : undefined;` : '';
  const direct = new Function('exports', 'require', 'module', '__filename', '__dirname', code + pick)(
    module.exports, localRequire, module, file, path.dirname(file));
  return direct || (module.exports && module.exports[mainName]) ||
    (mainName === 'main' && typeof module.exports === 'function' ? module.exports : undefined);
}

function loadZip(code, mainName) {
  const dir = path.join(workdir, 'action');
  for (const entry of unzip(Buffer.from(code, 'base64'))) {
    const target = path.join(dir, entry.name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, entry.data);
  }
  let entryFile = 'index.js';
  const pkg = path.join(dir, 'package.json');
  if (fs.existsSync(pkg)) entryFile = JSON.parse(fs.readFileSync(pkg, 'utf8')).main || 'index.js';
  const resolved = path.join(dir, entryFile);
  if (!fs.existsSync(resolved)) {
    throw new Error(`Zipped actions must contain either package.json with a 'main' field or index.js at the root (missing ${entryFile}).`);
  }
  process.chdir(dir);
  const exported = require(resolved);
  return exported[mainName] || (typeof exported === 'function' ? exported : undefined);
}

function init(message, res) {
  const value = message && message.value;
  if (initialised) return reply(res, 403, { error: 'Cannot initialize the action more than once.' });
  if (!value || typeof value.main !== 'string' || typeof value.code !== 'string' || !value.code) {
    return reply(res, 403, { error: 'Missing main/no code to execute.' });
  }
  initialised = true;
  try {
    for (const [key, item] of Object.entries(value.env || {})) {
      process.env[key] = typeof item === 'string' ? item : JSON.stringify(item);
    }
    const fn = value.binary ? loadZip(value.code, value.main) : loadSource(value.code, value.main);
    if (typeof fn !== 'function') throw new Error(`Action entrypoint '${value.main}' is not a function.`);
    actionMain = fn;
    status = 'initialised';
    reply(res, 200, { OK: true });
  } catch (err) {
    status = 'stopped';
    console.error(err);
    endActivation();
    reply(res, 502, { error: `Initialization has failed due to: ${err && err.stack ? err.stack : err}` });
  }
}

function serializeError(error) {
  if (error instanceof Error) {
    const out = { name: error.name, message: error.message, stack: error.stack };
    for (const key of Object.keys(error)) out[key] = error[key];
    return out;
  }
  return error === undefined ? {} : error;
}

function finish(res, code, payload) {
  active--;
  if (status === 'running' && active === 0) status = 'initialised';
  endActivation();
  reply(res, code, payload);
}

function run(message, res) {
  if (!initialised || actionMain === null) return reply(res, 403, { error: 'System not initialized.' });
  if (status === 'stopped') return reply(res, 403, { error: 'System not ready, status is stopped.' });
  if (status === 'running' && process.env.__OW_ALLOW_CONCURRENT !== 'true') {
    return reply(res, 403, { error: 'System not ready, status is running.' });
  }
  const value = message.value === undefined ? {} : message.value;
  if (typeof value !== 'object' || value === null) {
    return reply(res, 403, { error: 'Internal system error: the action parameters must be an object.' });
  }
  for (const [key, item] of Object.entries(message)) {
    if (key !== 'value' && typeof item === 'string') process.env[`__OW_${key.toUpperCase()}`] = item;
  }
  status = 'running';
  active++;
  let returned;
  try {
    returned = actionMain(value);
  } catch (err) {
    console.error(err);
    active--;
    status = 'stopped';
    endActivation();
    return reply(res, 502, { error: `An error has occurred: ${err}` });
  }
  Promise.resolve(returned).then((result) => {
    if (result === undefined) result = {};
    if (typeof result !== 'object') return finish(res, 502, { error: 'The action did not return a dictionary.' });
    finish(res, 200, result);
  }, (error) => {
    finish(res, 200, { error: serializeError(error) });
  });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let message;
    try {
      message = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    } catch (err) {
      return reply(res, 400, { error: `Error unmarshaling request: ${err.message}` });
    }
    if (req.method === 'POST' && req.url === '/init') return init(message, res);
    if (req.method === 'POST' && req.url === '/run') return run(message, res);
    reply(res, 404, { error: `no such endpoint: ${req.method} ${req.url}` });
  });
});
server.keepAliveTimeout = 0; // keep warm connections open while the container is idle
server.requestTimeout = 0; // the invoker enforces the action time limit
server.headersTimeout = 0;
server.listen({ fd: listenFd });
// stdin stays open and unused: EOF means the invoker has gone away, so the runtime goes too
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
