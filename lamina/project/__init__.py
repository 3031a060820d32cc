"""A project's life: the ``lamina.yaml`` project and its stages (plan, data, eda, prepare, advise,
train, evaluate, report), viability planning, the deep-learning-or-classical advisor, the one KPI
vocabulary, the fitted model of a project and its report; for ``task: recommend``, the classical
recommenders (``Popularity``, ``ItemKNN``, ``EASE``), their files and the recommender advisor.
"""

from typing import Any

from lamina.project import stages as _stages  # noqa: F401  (registers the built-in stages)
from lamina.project.project import (
    KPIS,
    STAGES,
    Project,
    Stage,
    StageContext,
    class_names,
    init,
    register_stage,
    split_dataset,
    take_rows,
)

__all__ = [
    "EASE",
    "ItemKNN",
    "KPIS",
    "Popularity",
    "STAGES",
    "Project",
    "Stage",
    "StageContext",
    "advise_recommend",
    "class_names",
    "evaluate_rankings",
    "init",
    "is_recommender",
    "load_recommender",
    "register_stage",
    "save_recommender",
    "split_dataset",
    "take_rows",
]


# The recommenders load on first use (they need pandas; ``import lamina`` does not).
_LAZY = {
    "EASE": "recommenders",
    "ItemKNN": "recommenders",
    "Popularity": "recommenders",
    "evaluate_rankings": "recommenders",
    "advise_recommend": "recommend_advisor",
    "is_recommender": "recommender_files",
    "load_recommender": "recommender_files",
    "save_recommender": "recommender_files",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from lamina.project import recommend_advisor, recommender_files, recommenders

        modules = {
            "recommenders": recommenders,
            "recommend_advisor": recommend_advisor,
            "recommender_files": recommender_files,
        }
        value = getattr(modules[_LAZY[name]], name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lamina.project' has no attribute {name!r}")
