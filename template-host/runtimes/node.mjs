// The Lambda runtime loop streamgate ships for nodejs* functions: it loads the handler named
// by _HANDLER from LAMBDA_TASK_ROOT (CommonJS or ES module, as Node decides for the file) and
// serves invocations from the Runtime API (AWS_LAMBDA_RUNTIME_API) as Lambda's own runtime
// does: the context object, console lines with the request id, callback and async handlers,
// errors reported as { errorType, errorMessage, trace }. Two things stand in for what Lambda's
// sandbox gives: the AWS SDK for JavaScript v3 resolves from streamgate's cache (NODE_PATH
// for require, a resolve hook for import), and HTTPS requests to the API's own endpoint (built
// from the event: https://{domainName}/{stage} or https://{apiId}.execute-api.{region}.amazonaws.com/{stage})
// go to the local server in plain HTTP.
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import { createRequire, register, syncBuiltinESMExports } from 'node:module';
import { pathToFileURL } from 'node:url';

const env = process.env;
const API = env.AWS_LAMBDA_RUNTIME_API;
const ROOT = env.LAMBDA_TASK_ROOT || process.cwd();
const HANDLER = env._HANDLER || '';
const SDK = env._STREAMGATE_SDK || '';
const LOCAL_ENDPOINT = env._STREAMGATE_API_ENDPOINT || '';
const LOCAL_HOSTS = new Set((env._STREAMGATE_API_HOSTS || '').split(',').filter(Boolean));
for (const name of ['_STREAMGATE_SDK', '_STREAMGATE_API_ENDPOINT', '_STREAMGATE_API_HOSTS']) {
  delete env[name];
}
const JSON_LOGS = (env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
let requestId;

// --- console lines as Lambda writes them -------------------------------------------------
const LEVELS = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', log: 'INFO', warn: 'WARN', error: 'ERROR' };
for (const [method, level] of Object.entries(LEVELS)) {
  const stream = level === 'ERROR' || level === 'WARN' ? process.stderr : process.stdout;
  console[method] = (...args) => {
    const message = util.format(...args);
    const time = new Date().toISOString();
    const line = JSON_LOGS
      ? JSON.stringify({ timestamp: time, level, requestId, message })
      : `${time}\t${requestId ?? 'undefined'}\t${level}\t${message}`;
    stream.write(line.replace(/\n/g, JSON_LOGS ? '\n' : '\r') + '\n');
  };
}

// --- the API's own endpoint, reached in plain HTTP -----------------------------------------
if (LOCAL_ENDPOINT) {
  const local = new URL(LOCAL_ENDPOINT);
  const originalRequest = https.request;
  const key = (host, port) => `${String(host).toLowerCase()}:${port || 443}`;
  https.request = function request(...args) {
    let [url, options, callback] = args;
    if (typeof url === 'string' || url instanceof URL) {
      const u = new URL(url);
      if (typeof options === 'function') {
        callback = options;
        options = {};
      }
      options = { ...options, protocol: u.protocol, hostname: u.hostname, port: u.port, path: u.pathname + u.search };
    } else {
      callback = options;
      options = url || {};
    }
    const host = options.hostname || (options.host || '').split(':')[0];
    if (!LOCAL_HOSTS.has(key(host, options.port))) {
      return originalRequest.apply(this, args);
    }
    const headers = { ...(options.headers || {}) };
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === 'host') delete headers[name];
    }
    headers.host = local.host;
    const redirected = { ...options, protocol: 'http:', hostname: local.hostname, host: local.hostname, port: local.port, headers };
    delete redirected.agent;
    return http.request(redirected, callback);
  };
  // https.get calls the module's own request, not the export: it goes through ours too.
  https.get = function get(...args) {
    const req = https.request(...args);
    req.end();
    return req;
  };
  syncBuiltinESMExports();
}

// --- the Runtime API ------------------------------------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function call(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      { agent, host: API.split(':')[0], port: API.split(':')[1], method, path: `/2018-06-01/runtime/${route}`,
        headers: data ? { 'content-type': 'application/json', 'content-length': data.length, ...headers } : headers },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

function errorOf(err, fallbackType) {
  if (err instanceof Error) {
    return { errorType: err.name && err.name !== 'Error' ? err.name : err.constructor?.name || fallbackType, errorMessage: err.message, trace: String(err.stack || '').split('\n') };
  }
  return { errorType: fallbackType ?? typeof err, errorMessage: typeof err === 'string' ? err : util.inspect(err), trace: [] };
}

async function initError(err, errorType) {
  const body = { ...errorOf(err), errorType: errorType ?? errorOf(err).errorType };
  console.error(`Uncaught Exception \t${JSON.stringify(body)}`);
  await call('POST', 'init/error', JSON.stringify(body), { 'lambda-runtime-function-error-type': body.errorType });
  process.exit(1);
}

// --- loading the handler --------------------------------------------------------------------
function isModule(file) {
  if (file.endsWith('.mjs')) return true;
  if (file.endsWith('.cjs')) return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        return JSON.parse(fs.readFileSync(pkg, 'utf8')).type === 'module';
      } catch {
        return false;
      }
    }
    if (dir === path.dirname(dir)) return false;
  }
}

async function loadHandler() {
  const slash = HANDLER.lastIndexOf('/');
  const dir = HANDLER.slice(0, slash + 1);
  const rest = HANDLER.slice(slash + 1);
  const dot = rest.indexOf('.');
  if (dot <= 0) {
    return initError(new Error(`Bad handler ${HANDLER}: expected FILE.EXPORT`), 'Runtime.MalformedHandlerName');
  }
  const base = path.resolve(ROOT, dir + rest.slice(0, dot));
  const names = rest.slice(dot + 1).split('.');
  const file = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    return initError(new Error(`Cannot find module '${dir + rest.slice(0, dot)}'`), 'Runtime.ImportModuleError');
  }
  let mod;
  try {
    if (isModule(file)) {
      if (SDK) {
        const parent = pathToFileURL(path.join(SDK, 'index.js')).href;
        register('data:text/javascript,' + encodeURIComponent(
          `export async function resolve(s, c, next) {
             try { return await next(s, c); } catch (e) {
               if (e?.code !== 'ERR_MODULE_NOT_FOUND' || /^[./]|^[a-z]+:/i.test(s)) throw e;
               return next(s, { ...c, parentURL: ${JSON.stringify(parent)} });
             }
           }`));
      }
      mod = await import(pathToFileURL(file).href);
    } else {
      mod = createRequire(file)(file);
    }
  } catch (err) {
    // As Lambda names them: a module that cannot be found or parsed, else the error the
    // module's own code threw while loading.
    const notFound = err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND';
    const type = err instanceof SyntaxError ? 'Runtime.UserCodeSyntaxError' : notFound ? 'Runtime.ImportModuleError' : undefined;
    return initError(err, type);
  }
  let fn = mod;
  for (const name of names) fn = fn?.[name] ?? (fn === mod ? mod?.default?.[name] : undefined);
  if (typeof fn !== 'function') {
    return initError(new Error(`${HANDLER} is undefined or not exported`), 'Runtime.HandlerNotFound');
  }
  return fn;
}

// --- invocations ------------------------------------------------------------------------------
function context(headers) {
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function run(handler, event, ctx) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, result) => {
      if (settled) return;
      settled = true;
      err !== undefined && err !== null ? reject(err) : resolve(result);
    };
    ctx.done = done;
    ctx.succeed = (result) => done(null, result);
    ctx.fail = (err) => done(err ?? new Error('handled'));
    try {
      const out = handler(event, ctx, done);
      if (out && typeof out.then === 'function') out.then((r) => done(null, r), (e) => done(e));
      else if (handler.length < 3) done(null, out);
    } catch (err) {
      done(err);
    }
  });
}

let current;
async function reportFatal(err) {
  const body = errorOf(err, 'Runtime.UnhandledPromiseRejection');
  console.error(`Uncaught Exception \t${JSON.stringify(body)}`);
  if (current) {
    await call('POST', `invocation/${current}/error`, JSON.stringify(body), { 'lambda-runtime-function-error-type': 'Unhandled' }).catch(() => {});
  }
  process.exit(129);
}
process.on('uncaughtException', reportFatal);
process.on('unhandledRejection', reportFatal);

const handler = await loadHandler();
for (;;) {
  const next = await call('GET', 'invocation/next');
  const id = next.headers['lambda-runtime-aws-request-id'];
  current = id;
  requestId = id;
  if (next.headers['lambda-runtime-trace-id']) env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'];
  let event;
  try {
    event = JSON.parse(next.body);
  } catch (err) {
    await call('POST', `invocation/${id}/error`, JSON.stringify(errorOf(err, 'Runtime.InvalidEvent')));
    continue;
  }
  try {
    const result = await run(handler, event, context(next.headers));
    await call('POST', `invocation/${id}/response`, JSON.stringify(result === undefined ? null : result));
  } catch (err) {
    const body = errorOf(err);
    console.error(`Invoke Error \t${JSON.stringify(body)}`);
    await call('POST', `invocation/${id}/error`, JSON.stringify(body), { 'lambda-runtime-function-error-type': 'Unhandled' });
  }
  current = undefined;
}
