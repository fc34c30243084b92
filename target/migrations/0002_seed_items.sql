-- A small catalogue so a fresh demo has something to list and to lock.
INSERT INTO items (name, quantity)
SELECT 'item-' || n, n * 3 % 17
FROM generate_series(1, 100) AS n;
