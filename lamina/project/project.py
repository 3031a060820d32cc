"""A deep-learning project from business goal to verdict: ``lamina.yaml`` and its stages.

A project file states the goal, the KPI and its success threshold, the data and the constraints.
:meth:`Project.run` executes the stages ``plan -> data -> eda -> prepare -> advise -> train ->
evaluate -> report``; each writes into ``<run_dir>/<stage>/`` and records the content hash of its
inputs in ``stage.json``. A stage whose inputs did not change is skipped (``force=True`` redoes it).
The run ends with a verdict: the KPI measured on the test split against the threshold.

>>> import lamina, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> path = lamina.project.init(folder, name="digits", data="digits", kpi="accuracy", threshold=0.9)
>>> lamina.Project.load(path).kpi
'accuracy'
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lamina.core.errors import ConfigError, message
from lamina.data.splits import take_rows
from lamina.project import kpi as _kpi
from lamina.project.runner import (
    FILE_NAME,
    STAGES,
    Stage,
    StageContext,
    class_names,
    is_missing,
    register_stage,
    run_stage,
    split_dataset,
    with_dependencies,
)

__all__ = [
    "KPIS",
    "STAGES",
    "Project",
    "Stage",
    "StageContext",
    "class_names",
    "init",
    "register_stage",
    "split_dataset",
    "take_rows",
]

# KPI name -> higher is better (regression errors are lower-is-better), from lamina.kpi.KPIS.
KPIS = {name: entry.higher for name, entry in _kpi.KPIS.items()}
_FIELDS = (
    "name",
    "goal",
    "kpi",
    "threshold",
    "positive_class",
    "data",
    "task",
    "model",
    "constraints",
    "seed",
    "run_dir",
    "prepare",
    "report",
    "privacy",
    "serving",
    "maintenance",
)
_TEMPLATE = """\
# lamina project file: `lamina run` executes
# plan -> data -> eda -> prepare -> advise -> train -> evaluate -> report.
name: {name}
goal: {goal}
kpi: {kpi}                # the business metric: {kpis}
threshold: {threshold}          # success when the KPI reaches this on the test split
positive_class: {positive}{positive_note}
data:
  source: {source}        # a bundled data set, a file or folder (relative to this file),
                          # or an SQL URL; ${{VARIABLE}} is read from the environment
                          # (keep passwords out of this file)
  target: {target}
  # options: {{table: sales}}   # lamina.data.load options (sql table/query, sample, ...)
task: {task}              # classification | regression | null (inferred from the target)
model: auto               # auto (the advisor's pick) | classical | deep | an advisor candidate
constraints:
  max_latency_ms: {latency}     # prediction latency per row
  train_seconds: {train_seconds}      # training time budget
seed: 0
run_dir: runs
# prepare: {{split: group, group_column: customer_id}}
#   split: random | stratified | group | time (with time_column)
# report: {{slices: [sex, race]}}   # quality per group of these columns, large gaps flagged
# privacy: {{redact: [name], hash: [email]}}   # how lamina serve logs these input fields
# serving: {{allow_missing: [colour]}}
#   lamina serve: columns a request may omit or send as null (imputed)
# maintenance: {{margin: 0.01, auto_promote: false}}
#   lamina retrain: trigger, holdout, promotion policy
"""


@dataclasses.dataclass
class Project:
    """A loaded ``lamina.yaml``; :meth:`run` executes its stages.

    Attributes:
        name: short name, used in reports and artifact names.
        goal: the business goal in plain words.
        kpi: the metric that decides success (a key of ``KPIS``).
        threshold: the KPI value that counts as success.
        positive_class: for a binary target, the class ``f1``, ``precision`` and ``recall`` are of
            (None: the minority class); a multiclass target uses macro averages (``lamina.kpi``).
        data: ``{"source": ..., "target": ..., "options": {...}}``.
        task: ``"classification"``, ``"regression"`` or None (inferred).
        model: ``"auto"``, ``"classical"``, ``"deep"`` or an advisor candidate name.
        constraints: ``{"max_latency_ms": ..., "train_seconds": ...}``.
        seed: random seed of every stage.
        run_dir: the folder (relative to ``root``) the stages write into.
        prepare: split options: ``{"split": "random" | "stratified" | "group" | "time",
            "group_column": ..., "time_column": ..., "test_fraction": 0.2}`` (ignored when the data
            set has its own test split).
        report: report options: ``{"slices": [column, ...]}`` measures quality per value of those
            columns.
        privacy: ``{"redact": [field, ...], "hash": [field, ...]}``: input fields ``lamina serve``
            writes to its prediction log as ``<redacted>`` or as a salted hash.
        serving: ``{"allow_missing": [column, ...]}``: table columns a ``lamina serve`` request may
            leave out or send as null (the saved preprocessing imputes them); others are refused
            with 422.
        maintenance: the retraining policy of ``lamina retrain`` (``lamina.maintain.POLICY`` lists
            the keys).
        root: the folder of the project file; relative paths resolve against it.
    """

    name: str
    goal: str
    kpi: str
    threshold: float
    data: dict[str, Any]
    positive_class: str | None = None
    task: str | None = None
    model: str = "auto"
    constraints: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int = 0
    run_dir: str = "runs"
    prepare: dict[str, Any] = dataclasses.field(default_factory=dict)
    report: dict[str, Any] = dataclasses.field(default_factory=dict)
    privacy: dict[str, Any] = dataclasses.field(default_factory=dict)
    serving: dict[str, Any] = dataclasses.field(default_factory=dict)
    maintenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    root: Path = Path(".")

    def __post_init__(self) -> None:
        where = f"{self.root / FILE_NAME}"
        _kpi.get(self.kpi, where)
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)):
            raise ConfigError(
                message(
                    f"threshold in {where} is not a number.",
                    repr(self.threshold),
                    "a number such as 0.85",
                    "Write the KPI value that counts as success.",
                )
            )
        if not isinstance(self.data, Mapping) or not self.data.get("source"):
            raise ConfigError(
                message(
                    f"data in {where} has no source.",
                    repr(self.data),
                    "data: {source: <name, file or URL>, target: <column>}",
                    "Add data.source (and data.target for supervised learning).",
                )
            )
        if self.positive_class is not None:
            # `positive_class: 1` in YAML is the class "1".
            self.positive_class = str(self.positive_class)
        if self.task not in (None, "classification", "regression", "recommend"):
            raise ConfigError(
                message(
                    f"Unknown task in {where}.",
                    repr(self.task),
                    "classification, regression, recommend or null",
                    "Fix or remove task:.",
                )
            )
        if self.task == "recommend":
            from lamina.project.recommend_project import check_settings

            check_settings(self.data, self.kpi, where)

    @classmethod
    def load(cls, path: str | Path = FILE_NAME) -> Project:
        """Read a project file (a folder means its ``lamina.yaml``)."""
        import yaml

        path = Path(path)
        if path.is_dir():
            path = path / FILE_NAME
        if not path.is_file():
            raise ConfigError(
                message(
                    "No project file found.",
                    str(path),
                    f"a {FILE_NAME} file",
                    "Create one with `lamina init`, or pass the path to yours.",
                )
            )
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(
                message(
                    f"{path} is not valid YAML.",
                    str(exc).splitlines()[0],
                    "a YAML mapping",
                    "Fix the line the parser names.",
                )
            ) from None
        if not isinstance(values, dict):
            raise ConfigError(
                message(
                    f"{path} is not a mapping.",
                    type(values).__name__,
                    "keys such as name, goal, kpi, threshold, data",
                    "Start from `lamina init`.",
                )
            )
        unknown = sorted(set(values) - set(_FIELDS))
        if unknown:
            raise ConfigError(
                message(
                    f"Unknown keys in {path}.",
                    unknown,
                    f"only {list(_FIELDS)}",
                    "Check the spelling or remove them.",
                )
            )
        missing = [key for key in ("name", "kpi", "threshold", "data") if values.get(key) is None]
        if missing:
            raise ConfigError(
                message(
                    f"{path} lacks required keys.",
                    missing,
                    "name, kpi, threshold and data",
                    "Add them (see `lamina init`).",
                )
            )
        values.setdefault("goal", "")
        if isinstance(values["data"], str):
            values["data"] = {"source": values["data"]}
        values["constraints"] = values.get("constraints") or {}
        values["model"] = values.get("model") or "auto"
        values["report"] = values.get("report") or {}
        values["prepare"] = values.get("prepare") or {}
        values["privacy"] = values.get("privacy") or {}
        values["serving"] = values.get("serving") or {}
        values["maintenance"] = values.get("maintenance") or {}
        return cls(**values, root=path.resolve().parent)

    @property
    def run_path(self) -> Path:
        """Where the stages write: ``<root>/<run_dir>``."""
        return self.root / self.run_dir

    def settings(self) -> dict[str, Any]:
        """The project's settings as written in the file (JSON-able)."""
        return {key: getattr(self, key) for key in _FIELDS}

    def run(
        self, stages: list[str] | None = None, *, force: bool | list[str] = False, verbose: int = 1
    ) -> dict[str, Any]:
        """Run ``stages`` (default all, in order) and return every stage's result by name.

        Args:
            stages: stage names to run; the stages they depend on run first (or are skipped when
                unchanged).
            force: True redoes every stage; a list redoes those stages.
            verbose: 0 quiet, 1 one line per stage.

        Returns:
            ``{stage name: result dict}``; ``result["evaluate"]["verdict"]`` holds the verdict.
        """
        unknown = sorted(set(stages or []) - set(STAGES))
        if unknown:
            raise ConfigError(
                message("Unknown stage.", unknown, f"one of {list(STAGES)}", "Check the name.")
            )
        wanted = with_dependencies(stages or list(STAGES))
        context = StageContext(self, verbose=verbose)
        for name in STAGES:
            if name in wanted:
                redo = force is True or (isinstance(force, list) and name in force)
                context.results[name] = run_stage(STAGES[name], context, redo)
        return context.results


def init(
    folder: str | Path = ".",
    *,
    name: str | None = None,
    goal: str = "",
    kpi: str = "accuracy",
    threshold: float = 0.9,
    data: str = "data.csv",
    target: str | None = None,
    task: str | None = None,
    positive_class: str | None = None,
    max_latency_ms: float = 100,
    train_seconds: float = 300,
    overwrite: bool = False,
    columns: dict[str, str] | None = None,
) -> Path:
    """Write a commented ``lamina.yaml`` into ``folder`` and return its path.

    Every value is checked before anything is written: the KPI, the threshold, that ``data``
    exists (a file or folder relative to ``folder``, or a bundled data set; SQL URLs are not opened)
    and holds ``target``. For a binary target ``positive_class`` names the class
    ``f1``/``precision``/``recall`` are of; left out, the minority class is written, with a comment
    saying so.

    ``task="recommend"`` writes a recommender project instead: ``columns`` names the log's
    ``user``, ``item`` and ``time`` columns (see ``lamina.project.recommend_project``).

    Raises:
        ConfigError: the file exists (pass ``overwrite=True`` to replace it) or a value is invalid.
        DataError: the data cannot be read.
    """
    folder = Path(folder)
    path = folder / FILE_NAME
    if path.exists() and not overwrite:
        raise ConfigError(
            message(
                "A project file already exists.",
                str(path),
                "a folder without lamina.yaml",
                "Edit it, pick another folder, or pass --force to overwrite it.",
            )
        )
    _kpi.get(kpi)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ConfigError(
            message(
                "threshold is not a number.",
                repr(threshold),
                "a number such as 0.85",
                "Pass the KPI value that counts as success.",
            )
        )
    if task == "recommend":
        from lamina.project.recommend_project import write_project

        text = write_project(folder, name, goal, kpi, threshold, data, columns or {})
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(latency=max_latency_ms, seconds=train_seconds), "utf-8")
        return path
    if task not in (None, "classification", "regression"):
        raise ConfigError(
            message(
                "Unknown task.", repr(task), "classification, regression, recommend or None", "Fix."
            )
        )
    found = _read(folder, data, target)
    positive, note = _positive(found, task, positive_class)
    quote = json.dumps  # JSON strings are valid YAML scalars and keep colons/quotes safe
    text = _TEMPLATE.format(
        name=quote(name or folder.resolve().name),
        goal=quote(goal),
        kpi=kpi,
        kpis=", ".join(KPIS),
        threshold=threshold,
        source=quote(data),
        positive="null" if positive is None else quote(positive),
        positive_note=note,
        target=quote(target) if target else "null",
        task=task or "null",
        latency=max_latency_ms,
        train_seconds=train_seconds,
    )
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / (FILE_NAME + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return path


def _read(folder: Path, data: str, target: str | None) -> Any:
    """The data ``init`` was given (None for SQL URLs), checked to exist and to hold ``target``."""
    from lamina.data import datasets
    from lamina.data.sources import load

    source = os.path.expandvars(str(data))
    if "://" in source:
        return None
    candidate = folder / source
    if not candidate.exists() and source not in datasets.names():
        near = [p.name for p in folder.iterdir()] if folder.is_dir() else []
        close = difflib.get_close_matches(source, near + datasets.names(), n=1)
        raise ConfigError(
            message(
                "The data path does not exist.",
                str(candidate),
                "a file or folder (relative to "
                "the project folder), a bundled data set name or an SQL URL",
                f"Did you mean {close[0]!r}?" if close else "Check the path and pass --data.",
            )
        )
    found = load(str(candidate) if candidate.exists() else source)
    if target and target != found.target:
        columns = [str(c) for c in found.x.columns] if found.modality == "table" else []
        if target not in columns:
            close = difflib.get_close_matches(target, columns + [found.target or ""], n=1)
            raise ConfigError(
                message(
                    f"The target column is not in {data}.",
                    repr(target),
                    f"one of {columns[:20]}" if columns else f"{found.target!r}",
                    f"Did you mean {close[0]!r}?" if close else "Pass --target naming a column.",
                )
            )
        found = load(found.x, target=target)
    return found


def _positive(found: Any, task: str | None, chosen: str | None) -> tuple[str | None, str]:
    """``(positive class, YAML comment)`` for ``init``.

    The class is the given one, else the minority class of a binary target.
    """
    binary = found is not None and found.y is not None and (task or found.task) == "classification"
    names = class_names(found, found.y) if binary else None
    present = sorted({str(v) for v in names[~is_missing(names)]}) if names is not None else []
    if chosen is not None and (len(present) != 2 or str(chosen) not in present):
        if found is None:
            return str(chosen), "        # F1, precision and recall are of this class"
        close = difflib.get_close_matches(str(chosen), present, n=1)
        raise ConfigError(
            message(
                "positive_class is not a class of a binary target.",
                repr(chosen),
                f"one of {present}"
                if len(present) == 2
                else f"a target with two classes (this one has {len(present)})",
                f"Did you mean {close[0]!r}?"
                if close and len(present) == 2
                else "Leave positive_class out.",
            )
        )
    if chosen is not None:
        return str(chosen), "        # F1, precision and recall are of this class"
    if len(present) != 2:
        return (
            None,
            "        # binary targets: the class F1, precision and recall are of "
            "(default: the minority)",
        )
    picked = str(_kpi.minority_class(names))
    return (
        picked,
        f"        # picked: the minority class of {present}; F1, precision and recall are of it",
    )
