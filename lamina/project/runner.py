"""How a project run executes its stages: :class:`Stage`, :class:`StageContext` and the registry.

``STAGES`` holds the stages in run order (``lamina.project.stages`` registers the built-in ones);
:func:`run_stage` runs one unless the content hash of its inputs matches the one recorded in its
``stage.json``. :func:`split_dataset` gives the stages the prepare stage's train and test split.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lamina.core.errors import ConfigError, message
from lamina.data.splits import take_rows
from lamina.project import kpi as _kpi

if TYPE_CHECKING:
    from lamina.project.project import Project

__all__ = [
    "FILE_NAME",
    "STAGES",
    "TASK_STAGES",
    "Stage",
    "StageContext",
    "class_names",
    "is_missing",
    "register_stage",
    "run_stage",
    "split_dataset",
    "with_dependencies",
]

FILE_NAME = "lamina.yaml"


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of a project run.

    Attributes:
        name: the stage (and CLI subcommand) name.
        needs: stages whose results this one reads; their output hashes are part of its input hash.
        settings: project settings this stage reads (a change redoes it).
        run: ``run(context) -> dict``: does the work, writes files into ``context.folder(name)`` and
            returns a JSON-able result.
        uses_data: True when the data's content hash is one of its inputs.
        version: bump when the stage's logic changes, so old results are redone.
    """

    name: str
    needs: tuple[str, ...]
    settings: tuple[str, ...]
    run: Callable[[StageContext], dict[str, Any]]
    uses_data: bool = False
    version: int = 1


class StageContext:
    """What stages share during one run: the project, loaded data and earlier results."""

    def __init__(self, project: Project, verbose: int = 1) -> None:
        self.project = project
        self.verbose = verbose
        self.results: dict[str, dict[str, Any]] = {}
        self.cache: dict[str, Any] = {}  # what stages of one run share besides results
        self._dataset: Any = None

    def folder(self, stage: str) -> Path:
        """``<run_dir>/<stage>``, created."""
        path = self.project.run_path / stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    def dataset(self) -> Any:
        """The project's data (``lamina.data.load`` on ``data.source``), loaded once per run."""
        if self._dataset is None:
            from lamina.data.sources import load

            spec = self.project.data
            # ${PGPASSWORD}: secrets stay out of the file.
            source = os.path.expandvars(str(spec["source"]))
            candidate = self.project.root / source
            if "://" not in source and candidate.exists():
                source = str(candidate)
            self._dataset = load(source, target=spec.get("target"), **(spec.get("options") or {}))
        return self._dataset

    def positive_class(self) -> str | None:
        """The class binary KPIs are of, by name.

        ``positive_class:`` of lamina.yaml, else the minority class.

        Returns None when the target is not binary (multiclass KPIs are macro averages).
        """
        dataset, chosen = self.dataset(), self.project.positive_class
        if dataset.y is None or (self.project.task or dataset.task) != "classification":
            return None
        names = class_names(dataset, dataset.y)
        present = sorted({str(v) for v in names[~is_missing(names)]})
        if len(present) == 2 and chosen is None:
            return str(_kpi.minority_class(names))
        if chosen is not None and (len(present) != 2 or chosen not in present):
            close = difflib.get_close_matches(chosen, present, n=1)
            raise ConfigError(
                message(
                    f"positive_class in {self.project.root / FILE_NAME} is not a class of the "
                    "binary target.",
                    repr(chosen),
                    f"one of {present}"
                    if len(present) == 2
                    else f"a binary target (this one has {len(present)} classes)",
                    f"Did you mean {close[0]!r}?"
                    if close and len(present) == 2
                    else "Fix or remove positive_class:.",
                )
            )
        return chosen

    def result(self, stage: str) -> dict[str, Any]:
        """An earlier stage's result, from this run or from its ``stage.json``."""
        if stage not in self.results:
            record = self.project.run_path / stage / "stage.json"
            self.results[stage] = json.loads(record.read_text())["result"]
        return self.results[stage]

    def say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)


STAGES: dict[str, Stage] = {}
# task -> {stage name: run}: a task whose stages work differently (``recommend``) replaces the
# ``run`` of those stages; names, order, dependencies and input hashes stay the same.
TASK_STAGES: dict[str, dict[str, Callable[[StageContext], dict[str, Any]]]] = {}


def is_missing(values: Any) -> Any:
    """Which of ``values`` ``(N,)`` are missing (None, NaN, NaT or ``pd.NA``): a bool array."""
    import pandas as pd

    return pd.isna(pd.Series(values, dtype=object)).to_numpy()


def class_names(dataset: Any, values: Any) -> Any:
    """``values`` (labels as stored) as class names.

    Bundled sets store ids 0..K-1 and their names in ``classes``.

    Args:
        dataset: a ``lamina.data.load`` Dataset.
        values: labels ``(N,)``.

    Returns:
        An object array ``(N,)``: the names where the data set has them, else the values unchanged.
    """
    import numpy as np

    out, names, y = np.asarray(values, dtype=object), dataset.classes, dataset.y
    if not names or y is None or np.asarray(y).dtype.kind not in "iu":
        return out

    def name(value: Any) -> Any:
        index = int(value) if str(value).lstrip("-").isdigit() else -1
        return names[index] if 0 <= index < len(names) else value

    return np.array([name(v) for v in out], dtype=object)


def register_stage(stage: Stage) -> Stage:
    """Add or replace a stage (replacing keeps its place in the run order)."""
    STAGES[stage.name] = stage
    return stage


def with_dependencies(names: list[str]) -> set[str]:
    """The stages ``names`` and every stage they need, directly or not."""
    wanted, queue = set(), list(names)
    while queue:
        name = queue.pop()
        if name not in wanted:
            wanted.add(name)
            queue.extend(STAGES[name].needs)
    return wanted


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def run_stage(stage: Stage, context: StageContext, force: bool) -> dict[str, Any]:
    """Run one stage unless its input hash matches the recorded one."""
    project = context.project
    inputs = {
        "stage": stage.name,
        "version": stage.version,
        "settings": {key: getattr(project, key) for key in stage.settings},
        "needs": {name: _digest(context.result(name)) for name in stage.needs},
    }
    if stage.uses_data:
        inputs["data"] = context.dataset().fingerprint()
    input_hash = _digest(inputs)
    record = project.run_path / stage.name / "stage.json"
    if not force and record.is_file():
        previous = json.loads(record.read_text())
        if previous.get("input_hash") == input_hash:
            context.say(f"[{stage.name}] unchanged, skipped")
            return previous["result"]  # type: ignore[no-any-return]
    context.say(f"[{stage.name}] running")
    started = time.perf_counter()
    if project.task == "recommend" and "recommend" not in TASK_STAGES:
        __import__("lamina.project.recommend_stages")  # registers its stages (a fixed name)
    run = TASK_STAGES.get(str(project.task), {}).get(stage.name, stage.run)
    result = run(context)
    seconds = time.perf_counter() - started
    record.parent.mkdir(parents=True, exist_ok=True)
    temporary = record.with_suffix(".tmp")
    temporary.write_text(
        json.dumps(
            {
                "stage": stage.name,
                "input_hash": input_hash,
                "seconds": round(seconds, 3),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "result": result,
            },
            indent=2,
            default=str,
        )
    )
    temporary.replace(record)  # atomic: a killed run never leaves a half-written record
    context.say(f"[{stage.name}] done in {seconds:.1f} s")
    return result


def split_dataset(context: StageContext, prepared: bool = True) -> tuple[Any, Any]:
    """``(train, test)`` Datasets from the prepare stage's split (train includes validation rows).

    ``prepared=True`` applies the shared preprocessing pipeline fitted by the prepare stage
    (tables); the saved model applies it itself, so evaluation passes raw rows (``prepared=False``).
    """
    dataset = context.dataset()
    result = context.result("prepare")
    folder = context.project.run_path / "prepare"
    if result["given_test"]:
        train, test = (
            dataset,
            dataclasses.replace(
                dataset, x=dataset.x_test, y=dataset.y_test, x_test=None, y_test=None
            ),
        )
    else:
        with np.load(folder / "split.npz", allow_pickle=False) as saved:
            rows, held = saved["train"], saved["test"]
        train = dataclasses.replace(
            dataset,
            x=take_rows(dataset.x, rows),
            y=take_rows(dataset.y, rows),
            x_test=take_rows(dataset.x, held),
            y_test=take_rows(dataset.y, held),
        )
        test = dataclasses.replace(
            dataset,
            x=take_rows(dataset.x, held),
            y=take_rows(dataset.y, held),
            x_test=None,
            y_test=None,
        )
    if prepared and (folder / "pipeline").is_dir():
        from lamina.data.prepare import Pipeline  # the data stage's pipeline, a lower wing

        pipeline = Pipeline.load(folder / "pipeline")
        train = dataclasses.replace(
            train, x=pipeline.transform(train.x), x_test=pipeline.transform(train.x_test)
        )
        test = dataclasses.replace(test, x=pipeline.transform(test.x))
    return train, test
