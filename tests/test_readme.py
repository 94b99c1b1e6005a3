"""The README's runnable snippets run, and its first lines are the two set-up commands."""

import pathlib
import re
import warnings

import jax
import pytest

README = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_first_lines_are_the_run_and_test_commands():
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert first_block[0].startswith('pip install -e ".[cli]" && jaxloss sweep')
    assert first_block[1].startswith('pip install -e ".[test]" && pytest')


SEARCH = "Search: random and quasi-random spaces, successive halving, population-based training"


@pytest.mark.parametrize("section", ["Quickstart", "Training", "Sweeps", SEARCH])
def test_section_snippet_runs(section):
    body = README.split(f"## {section}\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", body, re.S).group(1)
    # optax is not strict-promotion clean; users run with the default promotion.
    with jax.numpy_dtype_promotion("standard"), warnings.catch_warnings():
        # The search snippet's fidelity audit warns, as it should on this data (the README
        # says so); any other warning still fails.
        warnings.filterwarnings("ignore", r"jaxloss.sweep.halving: early scores", UserWarning)
        exec(compile(code, f"README:{section}", "exec"), {})


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets may write files (checkpoints, CSV)
