from pathlib import Path

import pytest

from napari_deepcolor.config import ConfigError, read_recipe

OPTIONS = {"images": Path, "steps": int, "lr": float, "no_train_halo": bool, "method": str}


def write(tmp_path, text):
    path = tmp_path / "sub" / "r.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_keys_in_tables_with_dashes_and_paths_relative_to_the_file(tmp_path):
    path = write(tmp_path, 'images = "../data"\n[training]\nsteps = 5\nlr = 1\nno-train-halo = true\n')
    values = read_recipe(path, OPTIONS, path_options=["images"])
    assert values == {"images": tmp_path.resolve() / "sub" / "../data", "steps": 5, "lr": 1.0,
                      "no_train_halo": True}
    assert isinstance(values["lr"], float)


@pytest.mark.parametrize(("text", "message"), [
    ("colours = 3\n", "unknown key 'colours'"),
    ("[model]\nstep = 3\n", "unknown key '[model] step'"),
    ("[optim]\nlr = 3\n", "unknown table [optim]"),
    ('steps = "100"\n', "'steps' must be an integer"),
    ("steps = 1.5\n", "'steps' must be an integer"),
    ("no_train_halo = 1\n", "must be true or false"),
    ("steps = 1\n[training]\nsteps = 2\n", "given twice"),
    ("steps = = 1\n", "not valid TOML"),
])
def test_bad_recipes_are_clear_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_recipe(write(tmp_path, text), OPTIONS)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such recipe file"):
        read_recipe(tmp_path / "none.toml", OPTIONS)


ROOT = Path(__file__).parents[1]
#: The stages of the bundled models (recipes/<model>/) and the experiments' recipes (experiments/<data>/recipes/).
RECIPE_FILES = {path.stem: path for path in [*ROOT.glob("recipes/*/*.toml"), *ROOT.glob("experiments/*/recipes/*.toml")]}
SHIPPED_RECIPES = sorted(RECIPE_FILES)


def test_every_bundled_model_has_a_recipe():
    from napari_deepcolor.zoo import bundled_models

    assert {path.parent.name for path in ROOT.glob("recipes/*/*.toml")} == set(bundled_models())
    assert {"ecoli", "leaves", "worms"} <= set(SHIPPED_RECIPES)


@pytest.mark.parametrize("name", SHIPPED_RECIPES)
def test_shipped_recipes_name_only_train_options(name):
    pytest.importorskip("torch")
    from napari_deepcolor.cli import _parser

    parser = _parser()
    options = {a.dest: (bool if a.nargs == 0 else a.type or str) for a in parser.train_parser._actions
               if a.option_strings and a.dest not in ("help", "config")}
    values = read_recipe(RECIPE_FILES[name], options,
                         path_options=[k for k, v in options.items() if v is Path])
    assert "output" in values


def test_an_option_with_its_own_parser_takes_a_number_or_a_string(tmp_path):
    from napari_deepcolor.cli._common import object_size_arg

    options = {**OPTIONS, "object_size": object_size_arg}
    assert read_recipe(write(tmp_path, "object-size = 1.5\n"), options) == {"object_size": 1.5}
    assert read_recipe(write(tmp_path, 'object-size = "auto"\n'), options) == {"object_size": "auto"}
    with pytest.raises(ConfigError, match="'object-size': expected a positive number or 'auto', got '-2'"):
        read_recipe(write(tmp_path, "object-size = -2\n"), options)


@pytest.mark.parametrize("name", [n for n in SHIPPED_RECIPES if "\ninit = " in RECIPE_FILES[n].read_text()])
def test_a_recipe_that_starts_from_a_model_states_how_it_fine_tunes(name):
    # the fine-tuning defaults (replay, decoder only, frozen norms, size from the annotations) came after most
    # recipes ran: a recipe pins them, so it trains as it did whatever the defaults become
    text = RECIPE_FILES[name].read_text()
    for key in ("replay", "freeze-encoder", "freeze-norm"):
        assert f"\n{key} = " in text, f"{name} does not state {key}"
    assert "\nscale = " in text or "\nobject-size = " in text, f"{name} states neither scale nor object-size"
