"""Everything that talks to a model: backends (llm/), the generation driver, the request
cache, prompt templates and model files. The generating stages (seeds, brainstorm, rewrite,
respond, judge) depend on this folder; filter and evaluate do not."""
