"""Every strategy kernel keeps the crash-safety skeleton of the reference below, statement for
statement.

The skeleton is copied into each strategy (signals/strategy.py says why: numba's cache cannot hold
one factory's kernels). What a copy must keep: the digest guard, the slot lookup, the replay skip,
`begin_tick` before and `commit_tick` after the strategy's own part, and an outbox-full exit that
returns the index of the tick it could not finish (uncommitted, so the next call applies it again).
The strategy's own part (between the replay skip and the commit) is free, except that it may not
touch the commit protocol, skip the commit, or leave the loop other than through that exit.
"""

import ast
import inspect
import textwrap

import pytest

from signals.kernels.digest import KERNEL_DIGEST
from signals.strategies import STRATEGIES


def reference(
    digest,
    slot_of,
    begin_tick,
    commit_tick,
    STAT_APPLIED,
    STAT_OUTBOX_FULL,
    STAT_REPLAYED,
    own_part,
):
    def on_ticks(rows, inst_slot, tick_size, params, copies, commit, history, outbox, cursor,
                 strategy, stats):
        if digest < 0:
            return 0
        p = params[0]
        for i in range(rows.shape[0]):
            row = rows[i]
            slot = slot_of(inst_slot, row)
            if slot < 0:
                continue
            copy = begin_tick(copies, commit, slot, row["seq"])
            if copy < 0:
                stats[STAT_REPLAYED] += 1
                continue
            if not own_part(copies[slot, copy], p):          # the strategy's own part
                stats[STAT_OUTBOX_FULL] += 1
                return i
            commit_tick(commit, slot, row["seq"], copy)
            stats[STAT_APPLIED] += 1
        return rows.shape[0]

    return on_ticks


PROTOCOL = {"slot_of", "begin_tick", "commit_tick"}
HEAD, TAIL = 5, 2            # loop statements before the strategy's part and after it


def _kernel_def(source: str) -> ast.FunctionDef:
    tree = ast.parse(textwrap.dedent(source))
    return next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "on_ticks"
    )


def _same(a, b) -> bool:
    strip = lambda nodes: [ast.dump(n, annotate_fields=False) for n in nodes]  # noqa: E731
    return strip(a) == strip(b)


def _outbox_exit(stmts: list, at: int) -> bool:
    """stmts[at] is `return i`, right after `stats[STAT_OUTBOX_FULL] += 1`."""
    ret, before = stmts[at], stmts[at - 1] if at else None
    return (
        isinstance(ret.value, ast.Name)
        and ret.value.id == "i"
        and isinstance(before, ast.AugAssign)
        and ast.unparse(before) == "stats[STAT_OUTBOX_FULL] += 1"
    )


def problems(kernel: ast.FunctionDef) -> list[str]:
    """How a strategy's kernel departs from the reference skeleton ([] when it keeps it)."""
    ref = _kernel_def(inspect.getsource(reference))
    found = []
    if ast.dump(kernel.args) != ast.dump(ref.args):
        found.append("arguments differ from the kernel signature")
    if not _same(kernel.body[:2], ref.body[:2]) or not _same(kernel.body[3:], ref.body[3:]):
        found.append("the digest guard, params row or final return differ")
    loop, ref_loop = kernel.body[2], ref.body[2]
    if not isinstance(loop, ast.For) or not _same(
        [loop.target, loop.iter], [ref_loop.target, ref_loop.iter]
    ):
        return found + ["the loop over rows differs"]
    if not _same(loop.body[:HEAD], ref_loop.body[:HEAD]):
        found.append("slot lookup, begin_tick or the replay skip differ")
    if not _same(loop.body[-TAIL:], ref_loop.body[-TAIL:]):
        found.append("commit_tick and the applied count do not end the loop")
    own = loop.body[HEAD:-TAIL]
    for node in (n for stmt in own for n in ast.walk(stmt)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in PROTOCOL
        ):
            found.append(f"the strategy's part calls {node.func.id}")
        if isinstance(node, (ast.Continue, ast.Break)):
            found.append("the strategy's part skips the commit (continue/break)")
    for stmt in (n for s in own for n in ast.walk(s)):
        for field in ("body", "orelse"):
            block = getattr(stmt, field, None)
            if isinstance(block, list):
                found += [
                    f"a return other than the outbox-full exit: {ast.unparse(s)}"
                    for k, s in enumerate(block)
                    if isinstance(s, ast.Return) and not _outbox_exit(block, k)
                ]
    found += [f"a return other than the outbox-full exit: {ast.unparse(s)}"
              for k, s in enumerate(own) if isinstance(s, ast.Return) and not _outbox_exit(own, k)]
    return found


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_strategy_kernel_when_compared_with_the_reference_then_keeps_its_skeleton(kind):
    cls = STRATEGIES[kind]
    module = inspect.getmodule(cls)
    assert problems(_kernel_def(inspect.getsource(module.build))) == []
    # The kernel in use is that build's, closed over the current kernel-source digest.
    # the plain function under NUMBA_DISABLE_JIT
    py_func = getattr(cls.kernel, "py_func", cls.kernel)
    assert (
        py_func.__qualname__ == "build.<locals>.on_ticks" and py_func.__module__ == module.__name__
    )
    assert dict(
        zip(py_func.__code__.co_freevars, (c.cell_contents for c in py_func.__closure__))
    ) == {"digest": KERNEL_DIGEST}


def test_skeleton_check_when_a_copy_drops_the_commit_or_returns_early_then_names_it():
    source = inspect.getsource(reference)
    no_commit = source.replace('            commit_tick(commit, slot, row["seq"], copy)\n', "")
    early = source.replace("            stats[STAT_OUTBOX_FULL] += 1\n", "")
    skip = source.replace(
        "# the strategy's own part\n", "# the strategy's own part\n                continue\n"
    )
    assert problems(_kernel_def(source)) == []
    assert "commit_tick and the applied count do not end the loop" in problems(
        _kernel_def(no_commit)
    )
    assert any("outbox-full exit" in p for p in problems(_kernel_def(early)))
    assert "the strategy's part skips the commit (continue/break)" in problems(_kernel_def(skip))
