"""Memory fences and the spin-pause hint, callable from numba kernels.

numba has no atomics, so the ring's seqlock protocol (common/ringbuffer.py) orders its plain loads
and stores with explicit LLVM fences. On x86-64 (TSO) `fence acquire` and `fence release` emit no
instruction: the CPU already keeps store->store and load->load order, and what the fence buys is
that LLVM may not move a load or store across it, nor merge two loads of the same address on either
side of it (the reader's two reads of a stamp). `fence seq_cst` emits a locked instruction (a full
barrier): it is needed only where a store must be visible before a later load (store->load, the one
reordering TSO allows), i.e. the sleeping-reader handshake. On other CPUs LLVM lowers the same
fences to the barriers they need.

`cpu_pause()` is the spin-wait hint (`pause` on x86-64): it keeps a spinning core from flooding the
memory pipeline and lets an SMT sibling run; elsewhere it compiles to nothing.

Under NUMBA_DISABLE_JIT=1 kernels run as plain Python and call the pure-Python versions below. Each
numpy element access is then a separate C call made in program order, so the acquire/release fences
are no-ops; the full fence takes and releases a lock, whose atomic instruction is a full barrier on
every CPU.
"""

import platform
import threading

from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic

_X86_64 = platform.machine().lower() in ("x86_64", "amd64")


def _emit_fence(ordering):
    def codegen(context, builder, signature, args):
        builder.fence(ordering)
        return context.get_dummy_value()

    return codegen


@intrinsic
def _fence_acquire(typingctx):
    return types.void(), _emit_fence("acquire")


@intrinsic
def _fence_release(typingctx):
    return types.void(), _emit_fence("release")


@intrinsic
def _fence_seq_cst(typingctx):
    return types.void(), _emit_fence("seq_cst")


@intrinsic
def _cpu_pause(typingctx):
    def codegen(context, builder, signature, args):
        if _X86_64:
            fnty = ir.FunctionType(ir.VoidType(), [])
            pause = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause")
            builder.call(pause, [])
        return context.get_dummy_value()

    return types.void(), codegen


_barrier_lock = threading.Lock()


def _py_noop():
    """Acquire/release fence and pause under NUMBA_DISABLE_JIT (see the module docstring)."""


def _py_full_fence():
    """A full barrier from plain Python: the lock's atomic read-modify-write."""
    with _barrier_lock:
        pass


if config.DISABLE_JIT:
    fence_acquire = _py_noop
    fence_release = _py_noop
    fence_seq_cst = _py_full_fence
    cpu_pause = _py_noop
else:
    fence_acquire = _fence_acquire
    fence_release = _fence_release
    fence_seq_cst = _fence_seq_cst
    cpu_pause = _cpu_pause
