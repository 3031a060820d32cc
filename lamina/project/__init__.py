"""A project's life: the ``lamina.yaml`` project and its stages (plan, data, eda, prepare, advise,
train, evaluate, report), viability planning, the deep-learning-or-classical advisor, the one KPI
vocabulary, the fitted model of a project and its report.
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
