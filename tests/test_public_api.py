"""The public surface: every name exported, documented (math, Args, Returns, example), typed."""

import inspect

import pytest

import jaxloss
from jaxloss import baselines, data, metrics, models, sweep, train
from jaxloss._losses import NAMES as LOSSES


def test_the_loss_list_names_exactly_the_public_functions_with_the_loss_signature():
    takes_data = {
        name
        for name in jaxloss.__all__
        if list(inspect.signature(getattr(jaxloss, name)).parameters)[:2]
        == ["predictions", "targets"]
    }
    assert set(LOSSES) == takes_data and len(LOSSES) == len(set(LOSSES))


def test_all_lists_exactly_the_public_names():
    public = {n for n in dir(jaxloss) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if inspect.ismodule(getattr(jaxloss, n))}
    assert sorted(jaxloss.__all__) == jaxloss.__all__
    assert set(jaxloss.__all__) == public - modules
    assert set(LOSSES) <= set(jaxloss.__all__)


@pytest.mark.parametrize("name", jaxloss.__all__)
def test_docstring_has_args_returns_and_example(name):
    obj = getattr(jaxloss, name)
    doc = inspect.getdoc(obj)
    assert doc, f"jaxloss.{name} has no docstring"
    sections = ["Returns:", ">>> "] + (["Args:"] if inspect.signature(obj).parameters else [])
    for section in sections:
        assert section in doc, f"jaxloss.{name} docstring lacks {section!r}"
    assert "{contract_args}" not in doc and "{returns}" not in doc


@pytest.mark.parametrize("name", LOSSES)
def test_loss_signature_follows_the_contract(name):
    signature = inspect.signature(getattr(jaxloss, name))
    params = signature.parameters
    assert list(params)[:2] == ["predictions", "targets"]
    for arg, default in [("weights", None), ("where", None), ("axis", None), ("reduction", "mean")]:
        assert params[arg].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[arg].default == default
    assert all(p.annotation is not inspect.Parameter.empty for p in params.values())
    assert signature.return_annotation is not inspect.Signature.empty
    doc = inspect.getdoc(getattr(jaxloss, name))
    assert ".. math::" in doc, f"jaxloss.{name} docstring states no formula"


@pytest.mark.parametrize(
    ("name", "hyperparameter", "default"),
    [
        ("huber", "delta", 1.0),
        ("pseudo_huber", "delta", 1.0),
        ("pinball", "quantile", 0.5),
        ("gaussian_nll", "full", False),
        ("poisson_nll", "log_input", True),
        ("poisson_nll", "full", False),
        ("robust", "scale", 1.0),
    ],
)
def test_hyperparameter_names_and_defaults(name, hyperparameter, default):
    param = inspect.signature(getattr(jaxloss, name)).parameters[hyperparameter]
    assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default == default


def test_robust_alpha_is_required_and_gaussian_variance_positional():
    params = inspect.signature(jaxloss.robust).parameters
    assert params["alpha"].default is inspect.Parameter.empty
    assert list(inspect.signature(jaxloss.gaussian_nll).parameters)[2] == "variance"


@pytest.mark.parametrize("name", jaxloss.__all__)
def test_every_argument_is_described(name):
    obj = getattr(jaxloss, name)
    args_section = inspect.getdoc(obj).split("Args:", 1)[-1].split("Returns:", 1)[0]
    for param in inspect.signature(obj).parameters:
        assert f"\n  {param}:" in "\n" + args_section, f"jaxloss.{name}: {param} undocumented"


_ACCUMULATORS = [metrics.Regression, metrics.Deviance, metrics.LossMean, metrics.Interval,
                 metrics.ErrorQuantiles]  # fmt: skip
_METHODS = ["empty", "update", "merge", "merge_across", "compute"]
METRICS_API = [
    *_ACCUMULATORS,
    *(getattr(cls, m) for cls in _ACCUMULATORS for m in _METHODS),
    metrics.Regression.exact_count,
    metrics.ErrorQuantiles.quantile,
    metrics.bias_variance,
]


def test_metrics_all_lists_its_public_names():
    assert metrics.__all__ == [
        "Deviance", "ErrorQuantiles", "Interval", "LossMean", "Regression", "bias_variance",
    ]  # fmt: skip


@pytest.mark.parametrize("obj", METRICS_API, ids=lambda o: o.__qualname__)
def test_metrics_docstrings(obj):
    doc = inspect.getdoc(obj)
    assert doc and ">>> " in doc, f"{obj.__qualname__} has no example"
    if inspect.isclass(obj):
        assert "Attributes:" in doc and ".. math::" in doc
        return
    assert "Returns:" in doc
    params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]
    args = doc.split("Args:", 1)[-1]
    for param in params:
        documented = f"\n  {param}:" in args or f"\n  **{param}:" in args
        assert documented, f"{obj.__qualname__}: {param}"


OTHER_API = [
    train.TrainState,
    train.TrainState.create,
    train.make_step,
    train.fit,
    train.EarlyStopping,
    train.EarlyStopping.init,
    train.EarlyStopping.update,
    train.EarlyStopping.should_stop,
    train.EarlyStoppingState,
    train.evaluate_regression,
    train.FitResult,
    models.linear_init,
    models.linear_apply,
    models.mlp_init,
    models.mlp_apply,
    baselines.lstsq,
    data.load_diabetes,
    sweep.Grid,
    sweep.Space,
    sweep.Space.columns,
    sweep.Space.config,
    sweep.Space.dim_of,
    sweep.Random,
    sweep.Random.describe,
    sweep.Sobol,
    sweep.Distribution,
    sweep.Uniform,
    sweep.LogUniform,
    sweep.IntUniform,
    sweep.Choice,
    sweep.Grid.points,
    sweep.Grid.point,
    sweep.Grid.describe,
    sweep.run,
    sweep.load,
    sweep.ShardReport,
    sweep.SweepResult,
    sweep.SweepResult.best,
    sweep.SweepResult.table,
    sweep.SweepResult.to_csv,
    sweep.SweepResult.to_json,
    sweep.SweepResult.plot,
    sweep.SweepResult.bias_variance,
]


@pytest.mark.parametrize("obj", OTHER_API, ids=lambda o: o.__qualname__)
def test_train_models_baselines_data_docstrings(obj):
    doc = inspect.getdoc(obj)
    assert doc and ">>> " in doc, f"{obj.__qualname__} has no example"
    if inspect.isclass(obj):
        assert "Attributes:" in doc
        return
    assert "Returns:" in doc
    for param in inspect.signature(obj).parameters:
        if param not in ("self", "cls"):
            assert f"\n  {param}:" in doc.split("Args:", 1)[-1], f"{obj.__qualname__}: {param}"


def test_submodules_export_their_names():
    assert train.__all__ == [
        "EarlyStopping",
        "EarlyStoppingState",
        "FitResult",
        "TrainState",
        "evaluate_regression",
        "fit",
        "make_step",
    ]
    assert data.__all__ == ["load_diabetes"]
    assert sweep.__all__ == [
        "Choice",
        "Distribution",
        "Grid",
        "HalvingResult",
        "HyperbandResult",
        "IntUniform",
        "LogUniform",
        "PBTResult",
        "Random",
        "Rung",
        "ShardReport",
        "Sobol",
        "Space",
        "SweepResult",
        "Trainer",
        "Uniform",
        "exploit",
        "explore",
        "halving",
        "hyperband",
        "load",
        "pbt",
        "run",
        "schedule",
    ]


def test_the_version_is_pyprojects_read_through_package_metadata():
    import importlib.metadata
    import pathlib
    import tomllib

    pyproject = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["version"]
    assert jaxloss.__version__ == importlib.metadata.version("jaxloss") == declared
