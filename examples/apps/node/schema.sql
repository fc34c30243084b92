-- The catalog's database, as its migrations would leave it: run once as the database owner
-- (role catalog) in database catalog.
CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO items (name)
SELECT 'item ' || n FROM generate_series(1, 20) AS n
WHERE NOT EXISTS (SELECT 1 FROM items);
