-- Categories form a tree; a move that would create a cycle is refused by the application
-- under an advisory lock (see categories/repository.ts) and by this check for the trivial case.
CREATE TABLE categories (
  id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  slug        text NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
  description text NOT NULL DEFAULT '',
  parent_id   integer REFERENCES categories (id) ON DELETE RESTRICT,
  version     integer NOT NULL DEFAULT 1,
  created_at  timestamptz(3) NOT NULL DEFAULT now(),
  updated_at  timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT categories_slug_key UNIQUE (slug),
  CONSTRAINT categories_not_own_parent CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX categories_parent_idx ON categories (parent_id, id);
CREATE INDEX categories_name_idx ON categories (name, id);
CREATE INDEX categories_created_idx ON categories (created_at DESC, id DESC);

CREATE TYPE product_status AS ENUM ('draft', 'active', 'archived');

-- Prices are integer minor units of an ISO-4217 currency; never floating point.
-- Timestamps keep millisecond precision so a cursor built from a JS Date matches the stored value exactly.
CREATE TABLE products (
  id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sku         text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  slug        text NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
  description text NOT NULL DEFAULT '',
  price_cents integer NOT NULL CHECK (price_cents >= 0),
  currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  category_id integer REFERENCES categories (id) ON DELETE RESTRICT,
  stock       integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
  status      product_status NOT NULL DEFAULT 'draft',
  version     integer NOT NULL DEFAULT 1,
  created_at  timestamptz(3) NOT NULL DEFAULT now(),
  updated_at  timestamptz(3) NOT NULL DEFAULT now(),
  search      tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('english', name), 'A') || setweight(to_tsvector('english', description), 'B')
              ) STORED,
  CONSTRAINT products_sku_key UNIQUE (sku),
  CONSTRAINT products_slug_key UNIQUE (slug)
);

-- One index per supported sort (keyset order), each also led by category_id for the category filter.
CREATE INDEX products_created_idx ON products (created_at DESC, id DESC);
CREATE INDEX products_price_idx ON products (price_cents, id);
CREATE INDEX products_name_idx ON products (name, id);
CREATE INDEX products_category_created_idx ON products (category_id, created_at DESC, id DESC);
CREATE INDEX products_category_price_idx ON products (category_id, price_cents, id);
CREATE INDEX products_category_name_idx ON products (category_id, name, id);
CREATE INDEX products_status_created_idx ON products (status, created_at DESC, id DESC);
CREATE INDEX products_search_idx ON products USING gin (search);

CREATE TYPE api_key_role AS ENUM ('admin', 'editor');

-- Only the SHA-256 of a key is stored; the key itself is shown once, when it is created.
CREATE TABLE api_keys (
  id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  role         api_key_role NOT NULL,
  key_hash     bytea NOT NULL CHECK (length(key_hash) = 32),
  key_prefix   text NOT NULL,
  created_at   timestamptz(3) NOT NULL DEFAULT now(),
  last_used_at timestamptz(3),
  revoked_at   timestamptz(3),
  CONSTRAINT api_keys_hash_key UNIQUE (key_hash)
);
