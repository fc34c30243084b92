"""The reference design's target service: FastAPI on SQLAlchemy with a deliberately tight pool.

Written as such a service is, with no knowledge of PoolGuard: its engine is the reference
design's (pool 5, no overflow, 3 s timeout, pre-ping), its /health is the reference design's
(HTTP 200 with "degraded" in the body when the database check fails), and it logs database
errors as `DB_ERROR: <the driver's message>`.
"""

import logging
import os

from fastapi import FastAPI, HTTPException
from sqlalchemy import create_engine, text

logging.basicConfig(
    level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
)
logger = logging.getLogger("shop")

DATABASE_URL = os.environ["DATABASE_URL"]

engine = create_engine(
    DATABASE_URL,
    pool_size=int(os.environ.get("DB_POOL_SIZE", "5")),  # Limited connection pool
    max_overflow=0,  # No overflow connections
    pool_timeout=3,  # Short timeout for failures
    pool_pre_ping=True,  # Connection health validation
)

app = FastAPI(title="shop")


@app.get("/health")
def health():
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db_status = "ok"
    except Exception:
        db_status = "unhealthy"

    return {
        "status": "ok" if db_status == "ok" else "degraded",
        "database": db_status,
    }


@app.get("/items/report")
def items_report():
    # A slow report: half a second of database time per request (pg_sleep stands in for an
    # expensive aggregate), holding its pooled connection all along.
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT count(*) AS items, max(id) AS last_id FROM items, pg_sleep(0.5)"
                )
            ).one()
        return {"items": row.items, "last_id": row.last_id}
    except Exception as e:
        logger.error(f"DB_ERROR: {str(e)}")
        raise HTTPException(status_code=503)


@app.get("/items")
def list_items(limit: int = 10):
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, name FROM items ORDER BY id LIMIT :limit"),
                {"limit": max(1, min(limit, 100))},
            ).all()
        return [{"id": row.id, "name": row.name} for row in rows]
    except Exception as e:
        logger.error(f"DB_ERROR: {str(e)}")
        raise HTTPException(status_code=503)
