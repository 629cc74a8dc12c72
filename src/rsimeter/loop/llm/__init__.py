"""LLM improvers on Inspect AI: an agent that edits a pipeline and submits a patch."""
