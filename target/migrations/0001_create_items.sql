-- The catalogue the target serves.
CREATE TABLE items (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    quantity    INTEGER     NOT NULL CHECK (quantity >= 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
