-- Run once as a superuser of the PostgreSQL the orders service uses: its role and database.
CREATE ROLE orders LOGIN PASSWORD 'orders-password';
CREATE DATABASE orders OWNER orders;
