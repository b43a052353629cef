"""What is asked: instance records, loaders, validation, the paper's prompts, instance generators."""

from realunify_arena.benchmark.loaders import Dataset, load
from realunify_arena.benchmark.schema import CATEGORIES, GEU_TASKS, UEG_TASKS, GEUInstance, PollingQuestion, UEGInstance

__all__ = ["CATEGORIES", "GEU_TASKS", "UEG_TASKS", "Dataset", "GEUInstance", "PollingQuestion", "UEGInstance", "load"]
