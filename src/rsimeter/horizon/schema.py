"""Tables of the horizon pillar: ordered migrations, applied by rsimeter.store.

Append new migrations; never edit one that has shipped.

* ``horizon_runs``: one agent attempt at one task (METR run files, CSV, Inspect logs).
* ``horizon_release_dates``: public release date per agent alias.
* ``horizon_summaries``: published per-agent horizons (METR ``benchmark_results`` YAML,
  per-agent logistic-fit tables, Epoch's copy of METR's horizons), grouped by ``suite``.
* ``horizon_bootstrap``: published bootstrap replicates per suite (long form); rows
  with the same ``replicate`` share one resampled task set and stay together.
* ``horizon_scores``: benchmark scores per model with release dates (saturation).
* ``horizon_sources``: which file was ingested when, as what, with its checksum.
"""

MIGRATIONS: list[str] = [
    """
    CREATE TABLE horizon_runs (
        run_id VARCHAR PRIMARY KEY,
        agent VARCHAR NOT NULL,
        task_id VARCHAR NOT NULL,
        task_family VARCHAR NOT NULL,
        success DOUBLE NOT NULL,
        score DOUBLE,
        human_minutes DOUBLE,
        human_source VARCHAR,
        fatal_error_from VARCHAR,
        started_at TIMESTAMP,
        source VARCHAR NOT NULL
    );
    CREATE TABLE horizon_release_dates (
        agent VARCHAR PRIMARY KEY,
        release_date DATE NOT NULL,
        source VARCHAR NOT NULL
    );
    CREATE TABLE horizon_summaries (
        suite VARCHAR NOT NULL,
        agent VARCHAR NOT NULL,
        release_date DATE,
        p50 DOUBLE,
        p50_low DOUBLE,
        p50_high DOUBLE,
        p80 DOUBLE,
        p80_low DOUBLE,
        p80_high DOUBLE,
        average_score DOUBLE,
        is_sota BOOLEAN,
        source VARCHAR NOT NULL,
        PRIMARY KEY (suite, agent)
    );
    CREATE TABLE horizon_bootstrap (
        suite VARCHAR NOT NULL,
        replicate INTEGER NOT NULL,
        agent VARCHAR NOT NULL,
        p50 DOUBLE,
        p80 DOUBLE,
        PRIMARY KEY (suite, replicate, agent)
    );
    CREATE TABLE horizon_scores (
        benchmark VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        release_date DATE NOT NULL,
        score DOUBLE NOT NULL,
        source VARCHAR NOT NULL,
        PRIMARY KEY (benchmark, model, source)
    );
    CREATE TABLE horizon_sources (
        path VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        rows INTEGER NOT NULL,
        ingested_at TIMESTAMP NOT NULL,
        PRIMARY KEY (path, kind)
    );
    """,
]
