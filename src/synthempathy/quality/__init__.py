"""Checks and measures on generated text: gates, dedupe, toxicity, crisis disclosures,
corpus statistics. Stages list the modules they import (dvc.yaml), so an edit here
re-runs only the stages that use it."""
