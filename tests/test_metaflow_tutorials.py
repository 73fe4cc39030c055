"""Metaflow's own tutorials (`metaflow tutorials pull`, which copies them from the
installed package, offline) imported with `nbflow import` and run in one store in
order, as the tutorials' READMEs do: 03-playlist-redux reads MovieStatsFlow's latest
run from inside its start step. Each flow's end artifacts must equal those of real
Metaflow's own run of the same file, read through each package's client.

Randomness (01/03 shuffle and pick at random; 02 iterates a set of strings) is made
the same on both sides: `random` seeded in every fresh interpreter, PYTHONHASHSEED=0."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import cli_env, run_id_of, run_nbflow
from test_export_metaflow import assert_same_artifacts, metaflow_env, read_end, seeded

pytest.importorskip("metaflow")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# (episode, file, flow) in the order the READMEs run them
EPISODES = [("00-helloworld", "helloworld", "HelloFlow"),
            ("01-playlist", "playlist", "PlayListFlow"),
            ("02-statistics", "stats", "MovieStatsFlow"),
            ("03-playlist-redux", "playlist", "PlayListFlow")]


# 03's bonus pick is random over a dict built from MovieStatsFlow's join, whose input
# order Metaflow 2.19 does not fix for more than 4 inputs: compared by type only.
UNSTABLE = {3: {"bonus"}}


def pull_tutorials(where: Path) -> Path:
    where.mkdir()
    env = metaflow_env(where / "mfhome")
    res = subprocess.run([sys.executable, "-m", "metaflow.cmd.main_cli", "tutorials", "pull"],
                         cwd=where, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return where / "metaflow-tutorials"


def metaflow_runs(tutorials: Path) -> dict[int, dict]:
    env = dict(metaflow_env(tutorials / "mfhome"), PYTHONHASHSEED="0")
    out = {}
    for i, (episode, name, flow) in enumerate(EPISODES):
        res = subprocess.run([sys.executable, f"{episode}/{name}.py", "--no-pylint", "run"],
                             cwd=tutorials, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, f"Metaflow {episode}:\n{res.stdout}\n{res.stderr}"
        out[i] = read_end("metaflow", flow, run_id_of(res.stdout + res.stderr), tutorials)
    return out


def nbflow_runs(tutorials: Path) -> dict[int, dict]:
    store = tutorials / ".nbflow"  # one store for all four, given by --datastore only
    env = dict(seeded(cli_env(), tutorials), PYTHONHASHSEED="0")
    out = {}
    for i, (episode, name, flow) in enumerate(EPISODES):
        notebook = f"{episode}/{name}_nb.ipynb"
        res = run_nbflow("import", f"{episode}/{name}.py", "-o", notebook, cwd=tutorials)
        assert res.returncode == 0, res.stderr
        res = run_nbflow("run", notebook, "--datastore", store, "--no-fork", cwd=tutorials,
                         env=env)
        assert res.returncode == 0, f"nbflow {episode}:\n{res.stdout}\n{res.stderr}"
        run_id = run_id_of(res.stdout)
        out[i] = read_end("nbflow", flow, run_id, tutorials)
        if episode == "03-playlist-redux":
            assert f"Using metadata provider: local@{store}" in res.stdout
    return out


def test_tutorials_import_and_run_with_metaflows_artifacts(tmp_path):
    expected = metaflow_runs(pull_tutorials(tmp_path / "mf"))
    got = nbflow_runs(pull_tutorials(tmp_path / "nb"))
    for i in range(len(EPISODES)):
        assert_same_artifacts(expected[i], got[i], unstable=UNSTABLE.get(i, set()))
    assert got[3]["playlist"] and "sci-fi" not in got[3]["bonus"][1].lower()
