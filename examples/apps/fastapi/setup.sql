-- Run once as a superuser of the PostgreSQL the shop uses: its role and its database.
CREATE ROLE shop LOGIN PASSWORD 'shop-password';
CREATE DATABASE shop OWNER shop;
