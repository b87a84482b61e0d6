"""Teaching labs at run time: checking a running lab, applying a solution, grading.

The description (`lab:` in a topology file) is `engine.model.teaching`; see docs/teaching.md.
"""
