"""The offline plan: the real program under Pulumi's mock engine, written out for review.

`python -m infra plan --stack NAME` (see `cli.py`); `offline.py` runs it, `mocks.py` is the
recording mock engine, `hooks.py` the per-platform state the cloud would assign, `iam.py` the
IAM report. The public API below is what tests and CI scripts use.
"""

from infra.plan.offline import (
    ROOT,
    STACKS_DIR,
    Plan,
    plan_stack,
    read_stack_file,
    stack_file,
    summary,
    write_plan,
)

__all__ = ["ROOT", "STACKS_DIR", "Plan", "plan_stack", "read_stack_file", "stack_file", "summary",
           "write_plan"]
