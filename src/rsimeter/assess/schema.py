"""Tables of the assess pillar: ordered migrations, applied by rsimeter.store.

Append new migrations; never edit one that has shipped.

- ``assess_cycles``: per-cycle gains and durations of a named sequence (model
  releases, generations) for the gain and generation-time ratios.
- ``assess_effort``: efficiency and research input over time, for Jones r.
- ``assess_arms``: (capability, progress rate) points of a treatment and a
  frozen-feedback control arm, for Burtsev R̂.
- ``assess_tasks``: task shares and speed-ups, for the progress multiplier.
- ``assess_runs``: one row per main-job run: state, verdict, scenario and the
  alert levels, so a watcher can tell what changed since the last run.
"""

MIGRATIONS: list[str] = [
    """
    CREATE TABLE assess_cycles (
        series VARCHAR NOT NULL,
        cycle INTEGER NOT NULL,
        gain DOUBLE NOT NULL,
        duration DOUBLE,
        source VARCHAR NOT NULL,
        line INTEGER,
        PRIMARY KEY (series, cycle)
    );
    CREATE TABLE assess_effort (
        series VARCHAR NOT NULL,
        time DOUBLE NOT NULL,
        efficiency DOUBLE NOT NULL,
        research_input DOUBLE NOT NULL,
        source VARCHAR NOT NULL,
        line INTEGER,
        PRIMARY KEY (series, time)
    );
    CREATE TABLE assess_arms (
        series VARCHAR NOT NULL,
        arm VARCHAR NOT NULL,
        point INTEGER NOT NULL,
        capability DOUBLE NOT NULL,
        rate DOUBLE NOT NULL,
        source VARCHAR NOT NULL,
        line INTEGER,
        PRIMARY KEY (series, arm, point)
    );
    CREATE TABLE assess_tasks (
        series VARCHAR NOT NULL,
        task VARCHAR NOT NULL,
        point INTEGER NOT NULL,
        share DOUBLE NOT NULL,
        speedup DOUBLE NOT NULL,
        source VARCHAR NOT NULL,
        line INTEGER,
        PRIMARY KEY (series, task, point)
    );
    CREATE TABLE assess_runs (
        run_at TIMESTAMP NOT NULL PRIMARY KEY,
        state VARCHAR NOT NULL,
        exit_code INTEGER NOT NULL,
        verdict VARCHAR NOT NULL,
        scenario VARCHAR,
        alerts VARCHAR NOT NULL,
        indicators INTEGER NOT NULL
    );
    """,
]
