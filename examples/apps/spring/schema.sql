-- The orders service's database, as its migrations would leave it: run once as the database owner
-- (role orders) in database orders.
CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO items (name)
SELECT 'item ' || n FROM generate_series(1, 20) AS n
WHERE NOT EXISTS (SELECT 1 FROM items);
