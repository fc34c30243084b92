"""The reference design's target, as the reference design writes it: FastAPI + SQLAlchemy
with the same deliberately tight pool. Only for bench/target.sh to measure beside
poolguard-target under the same load."""
import os

from fastapi import FastAPI, HTTPException
from sqlalchemy import create_engine, text

engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1),
    pool_size=5,
    max_overflow=0,
    pool_timeout=3,
    pool_pre_ping=True,
)
app = FastAPI()


@app.get("/health")
def health():
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db_status = "ok"
    except Exception:
        db_status = "unhealthy"
    return {"status": "ok" if db_status == "ok" else "degraded", "database": db_status}


@app.get("/items/{item_id}")
def get_item(item_id: int):
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT id, name, quantity, created_at FROM items WHERE id = :id"),
                {"id": item_id},
            ).first()
    except Exception as e:
        print(f"DB_ERROR: {e}", flush=True)
        raise HTTPException(status_code=503)
    if row is None:
        raise HTTPException(status_code=404)
    return {"id": row.id, "name": row.name, "quantity": row.quantity,
            "created_at": row.created_at.isoformat()}
