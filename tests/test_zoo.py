"""The model registry: one table of bundled models, checked against the files shipped, and the user's models, kept
on disk (each test's in its own folder: conftest.user_models_in_tmp)."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from napari_deepcolor.checkpoint import CheckpointError
from napari_deepcolor.training.presets import PRESETS, preset_for_model
from napari_deepcolor.zoo import (
    BUNDLED_KINDS,
    DEFAULT_FOR_KIND,
    bundled_models,
    kind_of,
    model_for_image,
    resolve_model,
    user,
)


def test_every_bundled_file_is_in_the_registry_and_back():
    assert set(bundled_models()) == set(BUNDLED_KINDS)


def test_every_kind_has_a_preset_and_a_bundled_default():
    """Every kind has a preset and a bundled default model."""
    assert set(BUNDLED_KINDS.values()) == set(PRESETS) == set(DEFAULT_FOR_KIND)
    for kind, model in DEFAULT_FOR_KIND.items():
        assert model in bundled_models() and kind_of(model) == kind == preset_for_model(model)
    assert kind_of("my-own-model") is None


def test_model_for_image_follows_samples_then_rgb():
    bundled = set(BUNDLED_KINDS)
    assert model_for_image("ecoli", rgb=False, current_takes_rgb=False, bundled=bundled) == "ecoli"
    leaves = DEFAULT_FOR_KIND["Leaves (rosette)"]
    assert model_for_image(None, rgb=True, current_takes_rgb=False, bundled=bundled) == leaves
    assert model_for_image(None, rgb=False, current_takes_rgb=False, bundled=bundled) is None


# -- the user's models, kept on disk ----------------------------------------------------------------------------------


def checkpoint_file(path, content=b"weights"):
    """A stand-in checkpoint (the registry copies files; it never reads them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_the_model_folder_is_the_environment_variable_else_the_platforms_data_folder(monkeypatch, tmp_path,
                                                                                      user_models_in_tmp):
    assert user.models_dir() == user_models_in_tmp
    monkeypatch.delenv(user.ENV)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert user.models_dir() == tmp_path / "data" / "napari-deepcolor" / "models"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert user.models_dir() == Path.home() / ".local" / "share" / "napari-deepcolor" / "models"


def test_a_model_folder_that_is_a_file_is_said_so_and_lists_nothing(monkeypatch, tmp_path, caplog):
    """NAPARI_DEEPCOLOR_MODELS set to a file: a warning, no models; adding one (deepcolor train --name checks it
    before training) says what to do instead of '[Errno 20] Not a directory'."""
    from napari_deepcolor.cli import main

    (tmp_path / "a.tif").write_bytes(b"not a folder")
    monkeypatch.setenv(user.ENV, str(tmp_path / "a.tif"))
    with caplog.at_level(logging.WARNING, logger="napari_deepcolor"):
        assert user.names() == []
    assert "is a file, not a folder: set NAPARI_DEEPCOLOR_MODELS to a folder" in caplog.text
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        user.add("mine", checkpoint_file(tmp_path / "run" / "last.safetensors"))
    assert main(["train", "--synthetic", "nuclei", "--synthetic-count", "1", "--steps", "1", "--name", "mine",
                 "--output", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_a_model_added_is_copied_into_the_folder_and_indexed(tmp_path, user_models_in_tmp):
    run = checkpoint_file(tmp_path / "run" / "last.safetensors")
    seen = []
    unsubscribe = user.subscribe(lambda name, path: seen.append((name, path)))
    assert user.add("my cells", run) == "my cells"
    stored = user.path("my cells")
    assert stored.parent == user_models_in_tmp and stored.read_bytes() == b"weights"
    run.unlink()  # the training folder may go: the copy stays
    assert user.names() == ["my cells"] and stored.is_file()
    index = json.loads((user_models_in_tmp / "models.json").read_text())
    assert index == {"models": {"my cells": stored.name}}
    assert seen == [("my cells", stored)]
    unsubscribe()


def test_names_are_made_unique_and_the_same_model_again_is_a_no_op(tmp_path):
    first, second = checkpoint_file(tmp_path / "a.safetensors"), checkpoint_file(tmp_path / "b.safetensors", b"other")
    assert user.add("cells", first) == "cells"
    assert user.add("cells", first) == "cells"  # the same checkpoint again
    assert user.add("cells", second) == "cells (2)"
    assert user.add("worms", first) == "worms (2)"  # a bundled name is taken too
    assert user.names() == ["cells", "cells (2)", "worms (2)"]
    with pytest.raises(FileNotFoundError):
        user.add("nothing", tmp_path / "missing.safetensors")


def test_rename_and_remove(tmp_path, user_models_in_tmp):
    outside = checkpoint_file(tmp_path / "kept" / "model.safetensors")
    user.add("a", checkpoint_file(tmp_path / "a.safetensors"))
    user.add("b", outside, copy=False)  # recorded where it is
    copied = user.path("a")
    events = []
    unsubscribe = user.subscribe(lambda name, path: events.append((name, path)))
    assert user.rename("a", "first") == "first"
    assert user.names() == ["first", "b"] and user.path("first") == copied  # same place in the list, same file
    with pytest.raises(ValueError, match="already taken"):
        user.rename("first", "b")
    with pytest.raises(ValueError, match="already taken"):
        user.rename("first", "ecoli")
    with pytest.raises(KeyError, match="no user model named 'zz'"):
        user.rename("zz", "y")
    user.remove("first")
    assert not copied.exists()  # our copy goes
    user.remove("b")
    assert outside.is_file()  # the user's own file stays
    assert user.names() == [] and events == [("first", copied), ("first", None), ("b", None)]
    unsubscribe()
    with pytest.raises(KeyError, match="user models: none"):
        user.path("first")


def test_deepcolor_models_renames_and_removes_as_the_widgets_do(tmp_path, user_models_in_tmp, capsys):
    from napari_deepcolor.cli import main

    user.add("a", checkpoint_file(tmp_path / "a.safetensors"))
    copied = user.path("a")
    assert main(["models", "--rename", "a", "cells"]) == 0 and user.names() == ["cells"]
    for args, message in ((["--rename", "zz", "y"], "error: no user model named 'zz'; user models: cells"),
                          (["--rename", "cells", "worms"], "error: the name 'worms' is already taken"),
                          (["--remove", "zz"], "error: no user model named 'zz'")):
        assert main(["models", *args]) == 2
        assert message in capsys.readouterr().err
    assert main(["models", "--remove", "cells"]) == 0
    assert user.names() == [] and not copied.exists()


def test_a_model_whose_file_is_gone_is_not_listed(tmp_path):
    user.add("ghost", checkpoint_file(tmp_path / "g.safetensors"))
    user.path("ghost").unlink()
    assert user.names() == []
    with pytest.raises(KeyError, match="is gone"):
        user.path("ghost")


def test_another_process_sees_the_models_and_both_keep_theirs(tmp_path):
    """The index is on disk: a new process lists what an earlier one added, and models added by two processes at
    once are both kept (the index is rewritten under a lock)."""
    user.add("here", checkpoint_file(tmp_path / "here.safetensors"))
    code = ("import sys; from napari_deepcolor.zoo import user; "
            "print(user.names()); [user.add(f'{sys.argv[1]} {i}', sys.argv[2]) for i in range(10)]")
    files = [checkpoint_file(tmp_path / f"p{n}.safetensors", f"p{n}".encode()) for n in range(2)]
    processes = [subprocess.Popen([sys.executable, "-c", code, f"p{n}", str(files[n])], stdout=subprocess.PIPE,
                                  text=True) for n in range(2)]
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes)
    assert all("'here'" in out for out in outputs)
    assert sorted(user.names()) == sorted(["here", *(f"p{n} {i}" for n in range(2) for i in range(10))])


def test_resolve_model_takes_bundled_and_user_names_files_and_run_folders(tmp_path, tiny_model):
    assert resolve_model("worms").name == "worms.safetensors"
    user.add("mine", tiny_model)
    assert resolve_model("mine") == user.path("mine")
    assert resolve_model(tiny_model) == tiny_model
    run = tmp_path / "run"
    checkpoint_file(run / "last.safetensors")
    assert resolve_model(run) == run / "last.safetensors"
    checkpoint_file(run / "best.safetensors")
    assert resolve_model(str(run)) == run / "best.safetensors"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="holds no best.safetensors or last.safetensors"):
        resolve_model(tmp_path / "empty")
    with pytest.raises(CheckpointError) as error:
        resolve_model("no-such-model")
    message = str(error.value)
    assert "neither a bundled model (" in message and "worms" in message and "your models (mine;" in message
    assert "checkpoint file" in message and "run folder" in message


def test_deepcolor_train_name_and_models_and_predict_by_that_name(tmp_path, capsys):
    """The CLI round trip: train --name keeps the run's model as the user's, models lists it after the bundled
    ones, predict --model finds it by name and by its run folder."""
    pytest.importorskip("torch")
    import tifffile
    from conftest import blobs_pair

    from napari_deepcolor.cli import main

    for folder in ("images", "labels"):
        (tmp_path / folder).mkdir()
    image, labels = blobs_pair(1)
    tifffile.imwrite(tmp_path / "images" / "a.tif", image)
    tifffile.imwrite(tmp_path / "labels" / "a.tif", labels)
    assert main(["train", "--images", str(tmp_path / "images"), "--labels", str(tmp_path / "labels"), "--output",
                 str(tmp_path / "run"), "--colors", "4", "--depth", "2", "--width", "4", "--patch-size", "32",
                 "--batch-size", "2", "--steps", "2", "--device", "cpu", "--name", "blobs"]) == 0
    assert user.names() == ["blobs"]
    assert user.path("blobs").read_bytes() == (tmp_path / "run" / "last.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("blobs\tcoloring, 4 colors") and lines[-1].endswith(f"your model: {user.path('blobs')}")
    assert lines[-1].split("\t")[2] == "trained from scratch"  # what it is, without a description of its own
    assert [line.split("\t")[0] for line in lines[:-1]] == list(bundled_models())
    for model in ("blobs", str(tmp_path / "run")):
        out = tmp_path / f"out-{len(model)}"
        assert main(["predict", "--model", model, "--output", str(out), "--device", "cpu", "--object-size", "1",
                     str(tmp_path / "images" / "a.tif")]) == 0
        assert (out / "a_labels.tif").is_file()


def test_a_fine_tuned_model_without_a_description_says_what_it_started_from(tmp_path, tiny_model):
    from napari_deepcolor.checkpoint import load_checkpoint, save_checkpoint
    from napari_deepcolor.cli.models import _line

    checkpoint = load_checkpoint(tiny_model)
    metadata = {"init": "nuclei (the bundled nuclei as installed then: step 1500)", "train_config": {},
                "validation": {"ap50": 0.9, "mean_ap": 0.7, "sbd": 0.8}}
    path = save_checkpoint(tmp_path / "mine.safetensors", type(checkpoint)(checkpoint.config, checkpoint.state_dict,
                                                                           metadata))
    assert _line("mine", path).split("\t")[2] == ("fine-tuned from nuclei; held out: ap50 0.900, mean_ap 0.700, "
                                                 "sbd 0.800")
