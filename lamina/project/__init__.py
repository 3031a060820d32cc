"""A project's life: the ``lamina.yaml`` project and its stages (plan, data, eda, prepare, advise,
train, evaluate, report), viability planning, the deep-learning-or-classical advisor, the one KPI
vocabulary, the fitted model of a project and its report; for ``task: recommend``, the classical
recommenders (``Popularity``, ``ItemKNN``, ``EASE``), their files and the recommender advisor.
"""

from lamina.project import recommend_stages as _recommend  # noqa: F401  (task: recommend)
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
from lamina.project.recommend_advisor import advise_recommend
from lamina.project.recommender_files import is_recommender, load_recommender, save_recommender
from lamina.project.recommenders import EASE, ItemKNN, Popularity, evaluate_rankings

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
