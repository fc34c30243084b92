// Prints what node-postgres (pg) raises in each scenario, logged as an app logs it.
// Run by ./record (which starts the PostgreSQL server on the port given as argv[2]).
const { Pool, Client } = require('pg');

const PORT = Number(process.argv[2]);
const cfg = (o = {}) => ({
  host: '127.0.0.1', port: PORT, user: 'app', password: 'app', database: 'postgres', ...o,
});

// Runs fn and logs its error: the whole error with its stack, or the message after the
// DB_ERROR marker.
async function scenario(name, fn, style) {
  console.error(`### scenario: ${name}`);
  try {
    await fn();
  } catch (err) {
    if (style === 'stack') console.error(err);
    else console.error('DB_ERROR: ' + err.message);
  }
}

async function fill(kept, o) {
  for (let i = 0; i < 20; i++) {
    const c = new Client(cfg(o));
    await c.connect();
    kept.push(c);
  }
}

async function connectionLost() {
  const c = new Client(cfg());
  c.on('error', (err) => console.error(err));  // the termination arrives here first
  await c.connect();
  const pid = (await c.query('select pg_backend_pid() as p')).rows[0].p;
  const admin = new Client(cfg({ user: 'postgres', password: 'postgres' }));
  await admin.connect();
  await admin.query('select pg_terminate_backend($1)', [pid]);
  await admin.end();
  await new Promise((r) => setTimeout(r, 200));
  await c.query('select 1');
}

(async () => {
  const pool = new Pool(cfg({ max: 1, connectionTimeoutMillis: 1000 }));
  const held = await pool.connect();
  await scenario('pool_timeout', () => pool.connect(), 'stack');
  await scenario('pool_timeout_marked', () => pool.connect(), 'marked');
  held.release();
  await pool.end();
  const kept = [];
  await scenario('reserved_slots', () => fill(kept, {}), 'stack');
  await scenario('too_many_clients', () => fill(kept, { user: 'postgres', password: 'postgres' }), 'marked');
  for (const c of kept) await c.end();
  await scenario('auth_failed', () => new Client(cfg({ password: 'wrong' })).connect(), 'stack');
  await scenario('connection_refused', () => new Client(cfg({ port: 1 })).connect(), 'stack');
  await scenario('unknown_host', () => new Client(cfg({ host: 'no-such-host.invalid' })).connect(), 'marked');
  await scenario('connection_lost', connectionLost, 'stack');
})();
