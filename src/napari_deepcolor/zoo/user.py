"""The user's own models: name → checkpoint, kept on disk in a per-user folder so they survive a restart.

The training widget and ``deepcolor train --name`` add each trained model here; the Segment and training widgets
list `names()` after the bundled models, ``deepcolor models`` prints them and ``deepcolor predict --model NAME``
finds them (`napari_deepcolor.zoo.resolve_model`). Plain Python: no torch, no Qt, so any module can import it.

Where: `models_dir()`, the environment variable ``NAPARI_DEEPCOLOR_MODELS`` if set, else the platform's folder for
application data (``~/.local/share/napari-deepcolor/models`` on Linux, ``~/Library/Application
Support/napari-deepcolor/models`` on macOS, ``%LOCALAPPDATA%\\napari-deepcolor\\models`` on Windows). It holds a
copy of each checkpoint and ``models.json``, the index: ``{"models": {name: file}}`` in the order the models were
added, a file inside the folder by its name, any other by its absolute path. The index is rewritten atomically
(a temporary file renamed over it) under a lock file, so two processes adding models at once both keep theirs; it is
read again whenever it changed on disk, so a model trained in another process (or an earlier session) appears.

Within a process, `subscribe` tells the widgets when a model is added, renamed or removed (to refresh their lists at
once); models added by another process appear the next time a list is filled.
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

#: The environment variable naming the user-model folder (tests point it at a temporary folder).
ENV = "NAPARI_DEEPCOLOR_MODELS"
INDEX = "models.json"
_LOCK = "models.json.lock"
_STALE_LOCK_SECONDS = 30.0

#: ``callback(name, path)`` after an add or a rename (the new name), ``callback(name, None)`` after a removal.
Subscriber = Callable[[str, "Path | None"], None]
_subscribers: list[Subscriber] = []
_cache: tuple[tuple[str, int, int], dict[str, Path]] | None = None  # ((index file, mtime_ns, size), models)


def models_dir() -> Path:
    """The user-model folder (not created here): ``$NAPARI_DEEPCOLOR_MODELS``, else the platform's data folder."""
    override = os.environ.get(ENV, "").strip()
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "napari-deepcolor" / "models"


def _unusable(folder: Path, error: OSError) -> str:
    """Why the user-model folder cannot hold the models, and what to do."""
    where = f"{ENV} is set to {folder}" if os.environ.get(ENV, "").strip() else f"the user-model folder {folder}"
    if folder.exists() and not folder.is_dir():
        return f"{where}, which is a file, not a folder: set {ENV} to a folder"
    return f"{where}, which cannot be used ({error.strerror or error}): set {ENV} to a folder you can write"


# -- reading ----------------------------------------------------------------------------------------------------------

def _index_path() -> Path:
    return models_dir() / INDEX


def _read() -> dict[str, Path]:
    """The index as name → absolute checkpoint path, in the order added (re-read only when the file changed)."""
    global _cache
    index = _index_path()
    try:
        stat = index.stat()
    except FileNotFoundError:
        return {}
    except OSError as error:  # the folder is a file (NotADirectoryError), or cannot be looked into
        log.warning("%s; no user models are listed", _unusable(index.parent, error))
        return {}
    key = (str(index), stat.st_mtime_ns, stat.st_size)
    if _cache is not None and _cache[0] == key:
        return dict(_cache[1])
    try:
        entries = json.loads(index.read_text(encoding="utf-8")).get("models", {})
    except (OSError, ValueError, AttributeError) as error:
        log.warning("the user-model index %s cannot be read (%s); no user models are listed", index, error)
        return {}
    models = {str(name): index.parent / file for name, file in entries.items() if isinstance(file, str)}
    _cache = (key, models)
    return dict(models)


def names() -> list[str]:
    """Names of the user's models whose checkpoint file exists, oldest first."""
    return [name for name, path in _read().items() if path.is_file()]


def path(name: str) -> Path:
    """Checkpoint path of a user model; `KeyError` listing the names if unknown (or its file is gone)."""
    found = _read().get(name)
    if found is None or not found.is_file():
        gone = f" (its file {found} is gone)" if found is not None else ""
        raise KeyError(f"no user model named {name!r}{gone}; user models: {', '.join(names()) or 'none'} (in "
                       f"{models_dir()})")
    return found


# -- writing ----------------------------------------------------------------------------------------------------------

def check_folder() -> Path:
    """The user-model folder, made if needed (before a training whose result will go there): `NotADirectoryError`
    saying what to do when it cannot be."""
    folder = models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NotADirectoryError(_unusable(folder, error)) from error
    if not os.access(folder, os.W_OK):
        raise NotADirectoryError(_unusable(folder, PermissionError(13, "not writable")))
    return folder


@contextlib.contextmanager
def _locked() -> Iterator[Path]:
    """Hold the folder's lock file while the index is read, changed and written (other processes wait)."""
    folder = check_folder()
    lock = folder / _LOCK
    deadline = time.monotonic() + 2 * _STALE_LOCK_SECONDS
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            with contextlib.suppress(OSError):
                if time.time() - lock.stat().st_mtime > _STALE_LOCK_SECONDS:  # left by a process that died
                    lock.unlink()
                    continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"the user-model index in {folder} stays locked; delete {lock} if no other "
                                   "napari-deepcolor is running") from None
            time.sleep(0.05)
    try:
        yield folder
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()


def _write(folder: Path, models: dict[str, Path]) -> None:
    """Write the index atomically: files inside the folder by their name, others by their absolute path."""
    global _cache
    _cache = None
    entries = {name: (p.name if p.parent == folder else str(p)) for name, p in models.items()}
    fd, tmp = tempfile.mkstemp(prefix=".models-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"models": entries}, f, indent=1, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / INDEX)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _file_name(folder: Path, name: str) -> Path:
    """A new file in the folder for a model called ``name`` (its letters, digits, ``-_.``; numbered if taken)."""
    stem = re.sub(r"[^\w.-]+", "_", name).strip("._") or "model"
    candidate, n = folder / f"{stem}.safetensors", 1
    while candidate.exists():
        n += 1
        candidate = folder / f"{stem}-{n}.safetensors"
    return candidate


def _copy(source: Path, target: Path) -> None:
    """Copy a checkpoint atomically (a temporary file renamed into place)."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _notify(name: str, checkpoint: Path | None) -> None:
    for callback in list(_subscribers):
        try:
            callback(name, checkpoint)
        except Exception:  # noqa: BLE001 - one broken subscriber must not stop the others or the caller
            log.exception("a subscriber of napari_deepcolor.zoo.user failed")


def _taken(name: str, models: dict[str, Path]) -> bool:
    from napari_deepcolor.zoo import bundled_models

    return name in models or name in bundled_models()


def add(name: str, path: str | os.PathLike, *, copy: bool = True) -> str:
    """Keep a checkpoint as a user model called ``name`` and tell the subscribers; returns the name used.

    With ``copy`` (the default) the file is copied into `models_dir()`, so the model survives its training folder;
    ``copy=False`` records the file where it is. A name already taken (by another model or a bundled one) gets a
    suffix (``"name (2)"``); the same name and the same checkpoint again is a no-op (no notification).
    """
    source = Path(path).resolve()
    if not source.is_file():
        raise FileNotFoundError(f"no checkpoint file at {source}")
    name = name.strip()
    if not name:
        raise ValueError("a user model needs a name")
    with _locked() as folder:
        models = _read()
        unique, n = name, 1
        while _taken(unique, models):
            known = models.get(unique)
            if known is not None and known.is_file() and (known == source or filecmp.cmp(known, source, False)):
                return unique  # this very model again
            n += 1
            unique = f"{name} ({n})"
        stored = source
        if copy and source.parent != folder:
            stored = _file_name(folder, unique)
            _copy(source, stored)
        models[unique] = stored
        _write(folder, models)
    _notify(unique, stored)
    return unique


def rename(old: str, new: str) -> str:
    """Call a user model ``new`` instead of ``old`` (its file stays); returns ``new``.

    Raises `KeyError` for an unknown ``old``, `ValueError` for an empty ``new`` or one already taken (a user model or
    a bundled one).
    """
    new = new.strip()
    if not new:
        raise ValueError("a user model needs a name")
    with _locked() as folder:
        models = _read()
        if old not in models:
            raise KeyError(f"no user model named {old!r}; user models: {', '.join(models) or 'none'}")
        if new == old:
            return new
        if _taken(new, models):
            raise ValueError(f"the name {new!r} is already taken; choose another")
        models = {new if name == old else name: p for name, p in models.items()}  # same place in the order
        _write(folder, models)
    _notify(new, models[new])
    return new


def remove(name: str) -> None:
    """Forget a user model; its checkpoint is deleted if it is the copy in `models_dir()` (a file recorded where it
    was, with ``add(copy=False)``, is left alone). `KeyError` for an unknown name."""
    with _locked() as folder:
        models = _read()
        if name not in models:
            raise KeyError(f"no user model named {name!r}; user models: {', '.join(models) or 'none'}")
        gone = models.pop(name)
        _write(folder, models)
        if gone.parent == folder and gone not in models.values():
            with contextlib.suppress(OSError):
                gone.unlink()
    _notify(name, None)


def subscribe(callback: Subscriber) -> Callable[[], None]:
    """Call ``callback(name, path)`` after each `add` and `rename` in this process, ``callback(name, None)`` after
    each `remove`; returns a function that unsubscribes it."""
    _subscribers.append(callback)

    def unsubscribe() -> None:
        if callback in _subscribers:
            _subscribers.remove(callback)

    return unsubscribe


def clear() -> None:
    """Forget every model (the index is deleted; checkpoint files stay) and every subscriber: for tests, whose
    `models_dir()` is a temporary folder (``NAPARI_DEEPCOLOR_MODELS``)."""
    global _cache
    _subscribers.clear()
    _cache = None
    with contextlib.suppress(FileNotFoundError):
        _index_path().unlink()
