"""Scenarios: defaults, TOML files, overrides and the errors users see."""

import json

import pytest

from simulators.engine import run
from simulators.scenario import (
    Scenario,
    apply_overrides,
    from_dict,
    load_scenario,
    scenario_names,
    to_dict,
)


def test_default_is_gpt3_on_1000_a100_nodes():
    s = Scenario()
    assert s.model.name == "gpt3-175b" and s.system.nodes == 1000
    lay = s.layout()
    assert (lay.dp, lay.pp, lay.tp, lay.size) == (125, 8, 8, 8000)
    assert s.global_batch == 125 * 16


def test_every_named_scenario_loads_and_runs():
    assert "default" in scenario_names()
    for name in scenario_names():
        r = run(load_scenario(name))
        assert r.iteration_s > 0 and 0 < r.mfu < 1


def test_default_toml_equals_builtin_defaults():
    assert to_dict(load_scenario("default")) == to_dict(Scenario())


def test_overrides_convert_types_and_swap_presets():
    s = apply_overrides(
        Scenario(),
        [
            "parallel.tp=4",
            "parallel.sequence_parallel=true",
            "parallel.recompute=selective",
            "system.nodes=16",
            "model.preset=megatron-18b",
            "model.layers=48",
        ],
    )
    assert s.parallel.tp == 4 and s.parallel.sequence_parallel is True
    assert s.parallel.recompute.value == "selective"
    assert s.model.hidden == 6144 and s.model.layers == 48


@pytest.mark.parametrize(
    "override, msg",
    [
        ("parallel.tpp=4", r"unknown field parallel.tpp; known: .*tp"),
        ("parallel.tp=four", r"parallel.tp: cannot use 'four' as int"),
        ("parallel.recompute=some", r"parallel.recompute: cannot use 'some'.*one of none"),
        ("hardware.nodes=2", r"unknown section 'hardware'"),
        ("parallel.tp", r"not of the form section.field=value"),
        ("system.node=dgx", r"unknown node 'dgx'; known: "),
        ("parallel.pp=7", r"world_size\(8000\) is not divisible by tp\(8\) \* pp\(7\)"),
        ("system.nodes=-1", r"system.nodes\(-1\) must be >= 1"),
        ("model.preset=gpt4", r"unknown model 'gpt4'"),
    ],
)
def test_bad_overrides_say_what_is_wrong(override, msg):
    with pytest.raises(ValueError, match=msg):
        apply_overrides(Scenario(), [override])


def test_unknown_scenario_lists_names():
    with pytest.raises(ValueError, match=r"unknown scenario 'nope'; known: .*default"):
        load_scenario("nope")


def test_toml_file_path(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text(
        '[model]\npreset = "megatron-1.7b"\n[system]\nnodes = 4\n'
        "[parallel]\ntp = 1\npp = 1\nmicro_batch = 16\nmicro_batches = 1\n"
    )
    s = load_scenario(str(f))
    assert s.name == "mine" and s.layout().dp == 32
    bad = tmp_path / "bad.toml"
    bad.write_text("[parallel\n")
    with pytest.raises(ValueError, match="bad.toml"):
        load_scenario(str(bad))


def test_from_dict_rejects_non_tables():
    with pytest.raises(ValueError, match="must be a table"):
        from_dict({"parallel": 3})


def test_model_that_does_not_fit_says_by_how_much():
    s = apply_overrides(
        Scenario(),
        ["system.node=dgx-a100-40gb", "parallel.recompute=none", "parallel.micro_batch=4"],
    )
    with pytest.raises(
        ValueError,
        match=r"does not fit: needs .* GiB per GPU > 37.3 GiB by .*"
        r"weights .* activations",
    ):
        run(s)


def test_result_is_json_and_deterministic():
    a, b = run(Scenario(), seed=0), run(Scenario(), seed=0)
    da, db = a.to_dict(), b.to_dict()
    da.pop("wall_s"), db.pop("wall_s")
    assert json.dumps(da, sort_keys=True) == json.dumps(db, sort_keys=True)
    assert sum(a.breakdown_s.values()) == pytest.approx(a.iteration_s)
