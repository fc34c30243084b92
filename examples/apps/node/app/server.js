// catalog: a Node.js service on Express and node-postgres, written as such services are,
// with no knowledge of PoolGuard. A pool of 5 connections that waits 3 s for one, a
// /health that checks the database, errors logged with console.error.
'use strict';

const express = require('express');
const { Pool } = require('pg');

const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number.parseInt(process.env.DB_POOL_SIZE, 10) || 5, // connections per process
  connectionTimeoutMillis: 3000, // how long a request waits for one
  idleTimeoutMillis: 30000,
});
pool.on('error', (err) => console.error('idle client error:', err.message));

const app = express();

app.get('/health', async (req, res) => {
  try {
    await pool.query('SELECT 1');
    res.json({ status: 'ok', database: 'ok' });
  } catch (err) {
    console.error('health check failed:', err.message);
    res.status(503).json({ status: 'degraded', database: 'unhealthy' });
  }
});

// A slow report: half a second of database time per request (pg_sleep stands in for an
// expensive aggregate), holding its pooled client all along.
app.get('/items/report', async (req, res) => {
  try {
    const { rows } = await pool.query(
      'SELECT count(*)::int AS items, max(id) AS last_id FROM items, pg_sleep(0.5)',
    );
    res.json(rows[0]);
  } catch (err) {
    console.error(err);
    res.status(503).json({ error: 'database unavailable' });
  }
});

app.get('/items', async (req, res) => {
  const limit = Math.max(1, Math.min(Number.parseInt(req.query.limit, 10) || 10, 100));
  try {
    const { rows } = await pool.query('SELECT id, name FROM items ORDER BY id LIMIT $1', [limit]);
    res.json(rows);
  } catch (err) {
    console.error(err);
    res.status(503).json({ error: 'database unavailable' });
  }
});

const port = Number.parseInt(process.env.PORT, 10) || 8000;
const host = process.env.HOST || '0.0.0.0';
const server = app.listen(port, host, () => console.log(`catalog listening on ${host}:${port}`));

process.on('SIGTERM', () => {
  server.close(() => pool.end().then(() => process.exit(0)));
});
