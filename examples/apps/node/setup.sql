-- Run once as a superuser of the PostgreSQL the catalog uses: its role and its database.
CREATE ROLE catalog LOGIN PASSWORD 'catalog-password';
CREATE DATABASE catalog OWNER catalog;
