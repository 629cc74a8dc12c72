"""Tables of the recursion experiments (appended to the loop pillar's migrations).

Append new migrations; never edit one that has shipped.
"""

MIGRATIONS: list[str] = [
    """
    CREATE TABLE loop_recursion_experiments (
        experiment_id VARCHAR PRIMARY KEY,
        created VARCHAR NOT NULL,
        tasks VARCHAR NOT NULL,            -- JSON list of target names
        meta VARCHAR NOT NULL,             -- fixed | ignition
        generations INTEGER NOT NULL,
        config VARCHAR NOT NULL,           -- JSON of RecursionConfig
        gen0 VARCHAR NOT NULL,             -- JSON of the generation-0 improver version
        verdict VARCHAR NOT NULL,          -- compounding | damped | indeterminate
        reasons VARCHAR NOT NULL,          -- JSON list
        held_out_confirmed BOOLEAN NOT NULL,
        seconds DOUBLE NOT NULL
    );
    CREATE TABLE loop_recursion_versions (
        experiment_id VARCHAR NOT NULL,
        arm VARCHAR NOT NULL,
        generation INTEGER NOT NULL,
        digest VARCHAR NOT NULL,
        parent VARCHAR,
        produced_by VARCHAR NOT NULL,
        selection_utility DOUBLE,
        version VARCHAR NOT NULL,          -- canonical JSON of the improver version
        PRIMARY KEY (experiment_id, arm, generation)
    );
    CREATE TABLE loop_recursion_runs (
        experiment_id VARCHAR NOT NULL,
        arm VARCHAR NOT NULL,
        generation INTEGER NOT NULL,
        split VARCHAR NOT NULL,            -- select | heldout
        task VARCHAR NOT NULL,
        seed BIGINT NOT NULL,
        version VARCHAR NOT NULL,          -- digest of the improver version that ran
        utility DOUBLE,
        proxy DOUBLE,
        seconds DOUBLE,
        cost DOUBLE,
        chosen VARCHAR,
        PRIMARY KEY (experiment_id, arm, generation, split, task, seed, version)
    );
    CREATE TABLE loop_recursion_candidates (
        experiment_id VARCHAR NOT NULL,
        arm VARCHAR NOT NULL,
        generation INTEGER NOT NULL,
        task VARCHAR NOT NULL,
        seed BIGINT NOT NULL,
        candidate_id VARCHAR NOT NULL,
        parent_id VARCHAR,
        author VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        sigma DOUBLE,
        proxy DOUBLE,
        chosen BOOLEAN NOT NULL,
        shipped_sigma DOUBLE
    );
    CREATE TABLE loop_llm_transcripts (
        candidate_id VARCHAR NOT NULL,     -- the candidate the transcript produced
        log_path VARCHAR NOT NULL,         -- the Inspect log file
        model VARCHAR NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        total_tokens BIGINT NOT NULL,
        usd DOUBLE,
        messages INTEGER NOT NULL,
        stop_reason VARCHAR NOT NULL,
        created VARCHAR NOT NULL
    );
    """,
]
