// Two clients on the stack streamgate serves: what one sends reaches both.
import WebSocket from 'ws';

const url = process.env.STREAMGATE_WS_URL;
if (!url) throw new Error('STREAMGATE_WS_URL is not set: run this under streamgate-server --run');

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function next(ws) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message within 10 s')), 10_000);
    ws.once('message', (data) => { clearTimeout(timer); resolve(data.toString()); });
  });
}

const [alice, bob] = [await open(), await open()];
const heard = [next(alice), next(bob)];
alice.send(JSON.stringify({ action: 'sendmessage', data: 'hello from node' }));
const got = await Promise.all(heard);
alice.close();
bob.close();
if (got.some((m) => m !== 'hello from node')) {
  console.error('node: expected both clients to get the message, got', got);
  process.exit(1);
}
console.log('node: both clients got the message');
