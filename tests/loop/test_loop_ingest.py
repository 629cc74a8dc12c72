"""`loop ingest`: autoresearch-style results logs read as self-reported experiments."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rsimeter.errors import InputError, Problems
from rsimeter.loop import record
from rsimeter.loop.ingest import ingest_log
from rsimeter.loop.resultslog import guess_direction, read_results_tsv
from rsimeter.store import Store

HEADER = "commit\tval_bpb\tmemory_gb\tstatus\tdescription\n"
# The example of karpathy/autoresearch's program.md, plus one more keep.
LOG = HEADER + (
    "a1b2c3d\t1.000000\t44.0\tkeep\tbaseline\n"
    "b2c3d4e\t0.900000\t44.2\tkeep\tincrease LR to 0.04\n"
    "c3d4e5f\t1.005000\t44.0\tdiscard\tswitch to GeLU activation\n"
    "d4e5f6g\t0.000000\t0.0\tcrash\tdouble model width (OOM)\n"
    "e5f6g7h\t0.850000\t44.3\tkeep\twarmup 100 steps\n"
)


def _write(tmp_path: Path, text: str | bytes, name: str = "results.tsv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _sigma(value: float, base: float = 1.0, low: float = 8.0, top: float = 0.7) -> float:
    """The σ ladder on a log scale for a lower-is-better metric, better than the baseline."""
    v, s, o = math.log(value), math.log(base), math.log(top)
    if v < s:
        return 0.1 + 0.9 * (v - s) / (o - s)
    return 0.1 * (v - math.log(low)) / (s - math.log(low))


def test_standard_log_gives_sigma_per_cycle_lineage_and_gain_ratio(tmp_path: Path) -> None:
    result = ingest_log(_write(tmp_path, LOG))
    d = result.to_dict()
    assert d["self_reported"] is True and "no hidden evaluator" in d["evaluator"]
    assert d["metric"] == {
        "name": "val_bpb", "direction": "min", "log_scale": True,
        "uninformative": 8.0, "optimum": 0.7,
    }  # fmt: skip
    assert d["rows"] == {"cycles": 4, "keep": 2, "discard": 1, "crash": 1, "skipped": 0}
    assert [c.commit for c in result.lineage] == ["a1b2c3d", "b2c3d4e", "e5f6g7h"]
    assert result.baseline.sigma.value == pytest.approx(0.1)
    sigmas = [c.sigma.value for c in result.cycles]
    assert sigmas[0] == pytest.approx(_sigma(0.9))
    assert sigmas[1] == pytest.approx(_sigma(1.005))  # worse than the baseline: below 0.1
    assert math.isnan(sigmas[2])  # the crash has no metric (its 0.000000 is ignored)
    assert result.cycles[2].metric is None
    g1, g2 = _sigma(0.9) - 0.1, _sigma(0.85) - _sigma(0.9)
    assert [c.gain.value for c in result.lineage[1:] if c.gain] == pytest.approx([g1, g2])
    assert result.gain_ratio.value == pytest.approx(g2 / g1)
    assert result.gain_ratio.n == 1 and math.isnan(result.gain_ratio.low)
    assert result.sigma_gain.value == pytest.approx(_sigma(0.85) - 0.1)
    assert result.sigma_best.n == 1 and math.isnan(result.sigma_best.low)  # one run: no interval


def test_header_variants_of_public_logs_read_the_same(tmp_path: Path) -> None:
    # Seen in public logs: extra columns before memory_gb, statuses in capitals, a tab
    # inside the description, CRLF line ends, a byte-order mark, non-ASCII text.
    text = (
        "\ufeffcommit\tval_bpb\tartifact_mb\tmemory_gb\tmfu\tstatus\tdescription\r\n"
        "c2ae6d8\t1.374486\t11.96\t10.0\t58.1\tKEEP\tbaseline: 9L 512d\r\n"
        "b670d49\t1.341303\t11.99\t10.0\t57.0\tKeep\tlr 0.03→0.04\tthen more\r\n"
        "7b1c5a1\t0.000000\t0.0\t0.0\t0.0\tcrash\tweight tying\r\n"
    )
    problems = Problems()
    log = read_results_tsv(_write(tmp_path, text), problems)
    assert log.metric == "val_bpb" and len(problems) == 0
    assert [r.status for r in log.rows] == ["keep", "keep", "crash"]
    assert log.rows[1].description == "lr 0.03→0.04\tthen more"
    assert log.rows[0].memory_gb == 10.0 and log.rows[2].memory_gb is None


def test_other_status_words_and_another_metric_column(tmp_path: Path) -> None:
    # A public trading log: BASELINE / KEEP / REVERT, a sentinel score, the metric asked for
    text = (
        "commit\tscore\tsharpe\tmax_dd\tstatus\tdescription\n"
        "exp0\t-999.000\t0.500\t0.00\tBASELINE\tclean branch\n"
        "exp1\t1.079\t1.079\t8.74\tKEEP\tfallback fix\n"
        "exp2\t-999.000\t0.715\t4.17\tREVERT\ttighter thresholds\n"
        "exp3\t1.136\t1.136\t9.15\tKEEP\traise meta threshold\n"
    )
    result = ingest_log(_write(tmp_path, text), metric="sharpe", uninformative=0.0, optimum=3.0)
    assert [c.status for c in result.cycles] == ["keep", "discard", "keep"]
    assert result.baseline.metric == 0.5 and len(result.problems) == 0
    assert [c.commit for c in result.lineage] == ["exp0", "exp1", "exp3"]


def test_bad_rows_are_reported_with_file_and_line_and_the_rest_is_kept(tmp_path: Path) -> None:
    text = (
        HEADER.encode()
        + b"a1\t1.0\t1.0\tkeep\tbaseline\n"
        + b"a2 0.9 1.0 keep spaces instead of tabs\n"
        + b"a3\t0.9\t1.0\tmaybe\tunknown status\n"
        + b"a4\tnan\t1.0\tkeep\tnot a number\n"
        + b"a5\t0.95\t1.0\tdiscard\t\xff\xfe broken bytes\n"
        + b"\n"
        + b"a6\t0.8\t1.0\tkeep\tstill read\n"
    )
    path = _write(tmp_path, text)
    result = ingest_log(path)
    assert [c.commit for c in result.lineage] == ["a1", "a6"]
    messages = [str(p) for p in result.problems.items]
    assert messages == [
        f"{path}:3: expected 5 tab-separated fields, got 1",
        f"{path}:4: status 'maybe' is not keep, discard or crash",
        f"{path}:5: val_bpb 'nan' is not a finite number",
        f"{path}:6: not UTF-8 text (byte 21)",
    ]
    assert result.to_dict()["rows"]["skipped"] == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("commit,val_bpb,status,description\n", "the header is comma-separated"),
        ("commit\tstatus\tdescription\nabc\tkeep\tx\n", "no metric column"),
        ("commit\tmemory_gb\tstatus\n", "header has no description column"),
        (HEADER + "a1\t0.0\t0.0\tcrash\tboom\n", "no row with a metric"),
        ("commit\tweirdness\tstatus\tdescription\na\t1\tkeep\tb\n", "pass --direction"),
        ("commit\tsharpe\tstatus\tdescription\na\t1\tkeep\tb\n", "pass --uninformative"),
        (HEADER + "a1\t0.5\t1.0\tkeep\tbaseline past the optimum\n", "σ ladder cannot be built"),
    ],
)
def test_unreadable_logs_are_one_error_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        ingest_log(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_missing_file_and_folder_are_input_errors(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.tsv", tmp_path):
        with pytest.raises(InputError, match=str(path)):
            ingest_log(path)


def test_user_anchors_for_a_higher_is_better_metric(tmp_path: Path) -> None:
    text = "commit\tsharpe\tstatus\tdescription\na\t1.0\tkeep\tbase\nb\t1.5\tkeep\tbetter\n"
    result = ingest_log(_write(tmp_path, text), uninformative=0.0, optimum=3.0)
    assert result.metric.direction == "max" and not result.metric.log_scale
    assert result.sigma_best.value == pytest.approx(0.1 + 0.9 * 0.5 / 2.0)
    assert guess_direction("val_loss") == "min" and guess_direction("top1_acc") == "max"


def test_stored_log_is_an_experiment_that_show_reads_but_indicators_skip(tmp_path: Path) -> None:
    path = _write(tmp_path, LOG)
    db = tmp_path / "store.duckdb"
    with Store.open(db) as s:
        first = ingest_log(path, store=s)
        again = ingest_log(path, store=s)  # idempotent
        assert first.experiment_id == again.experiment_id
        cands = record.load_candidates(s, first.experiment_id)
        assert len(cands) == 5 and [c.role for c in cands].count("shipped") == 1
        assert all(c.improver == "self-reported" and c.hidden_scores == () for c in cands)
        parents = {c.note.split(" ")[1].rstrip(":"): c.parent_id for c in cands}
        assert parents["e5f6g7h"] == f"{first.experiment_id}-3"  # the latest kept row
        shown = record.load_experiment(s, first.experiment_id)
        assert shown.sigma_gain.value == pytest.approx(first.sigma_gain.value)
        assert shown.held_out_confirmed is False
        assert record.latest_experiment(s) is None
        # a longer log (the agent kept going) is the same experiment, with the new rows
        path.write_text(LOG + "f6g7h8i\t0.840000\t44.0\tdiscard\tone more\n", encoding="utf-8")
        grown = ingest_log(path, store=s)
        assert grown.experiment_id == first.experiment_id
        assert len(record.load_candidates(s, first.experiment_id)) == 6
        path.write_text(
            LOG.replace("c3d4e5f\t1.005000\t44.0\tdiscard\tswitch to GeLU activation\n", "")
        )
        ingest_log(path, store=s)  # an edited log: the removed row leaves the store too
        notes = [c.note for c in record.load_candidates(s, first.experiment_id)]
        assert len(notes) == 4 and not any("GeLU" in n for n in notes)
        # the report shows the log in a table of its own, marked self-reported
        from rsimeter.loop.report import section

        loop_section = section(s)
        assert loop_section is not None
        html = loop_section.html()
        assert "Self-reported improvement logs" in html and first.experiment_id in html
        assert "no hidden evaluator" in html and "Experiments (newest first)" not in html


def _app() -> typer.Typer:
    from rsimeter.cli import app

    return app


def test_command_prints_the_documented_json_and_one_line_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, LOG)
    db = str(tmp_path / "s.duckdb")
    out = CliRunner().invoke(_app(), ["loop", "ingest", str(path), "--store", db, "--json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout)
    assert set(d) >= {
        "experiment", "self_reported", "evaluator", "metric", "rows", "baseline",
        "sigma_best", "sigma_gain", "gain_ratio", "accepted_lineage", "cycles", "problems",
    }  # fmt: skip
    assert d["sigma_gain"]["n"] == 1 and d["sigma_gain"]["ci"] == [None, None]
    human = CliRunner().invoke(_app(), ["loop", "ingest", str(path), "--store", db])
    assert "SELF-REPORTED" in human.stdout
    bad = _write(tmp_path, "nothing here\n", "bad.tsv")
    failed = CliRunner().invoke(_app(), ["loop", "ingest", str(bad), "--store", db])
    assert failed.exit_code != 0
    assert isinstance(failed.exception, InputError) and str(bad) in str(failed.exception)
