-- When each institution (its terminal, its レセコン) was last heard from by any node of the
-- central: written in batches by each node, read for the metrics of terminals gone silent.
CREATE TABLE institution_presence (
    institution  TEXT   PRIMARY KEY,  -- 医療機関コード
    last_seen_ms BIGINT NOT NULL
);
CREATE INDEX institution_presence_by_time ON institution_presence (last_seen_ms);
