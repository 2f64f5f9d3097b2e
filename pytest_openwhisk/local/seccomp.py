"""A seccomp-BPF deny list for runtime sandboxes, in the spirit of Docker's default profile.

:func:`program` returns the raw ``struct sock_filter`` array that ``bwrap --seccomp FD`` loads right
before it executes the runtime (bwrap sets ``no_new_privs`` first). The filter:

1. kills the process when the syscall comes from another ABI than the native one (``int 0x80`` i386
   calls or x32 numbers on x86_64 would otherwise bypass a table of native numbers);
2. answers ``EPERM`` to the syscalls a container never needs and an escape uses: mounts and the new
   mount API, namespaces (``unshare``, ``setns``, ``clone`` with ``CLONE_NEW*`` flags), ``ptrace`` and
   cross-process memory access, kernel modules, ``kexec``, ``bpf``, ``perf_event_open``, keyrings,
   clock and host-name changes, ``io_uring``, handle-based opens, ``userfaultfd``, ...;
3. answers ``EPERM`` to ``socket(AF_PACKET, ...)`` (raw link-layer sniffing of loopback traffic);
4. answers ``ENOSYS`` to ``clone3`` (its flags live in memory a filter cannot read; libc falls back
   to ``clone``, whose flags are checked), as Docker does;
5. allows everything else.

Syscall numbers come from the kernel's tables (``asm/unistd_64.h`` for x86_64, ``asm-generic/unistd.h``
for aarch64); ``tests/local/test_sec_seccomp.py`` checks them against the headers when installed.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

# BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000

_OFF_NR, _OFF_ARCH = 0, 4


def _arg_low(index: int) -> int:
    """Offset of the low 32 bits of syscall argument ``index`` in ``struct seccomp_data`` (little endian)."""
    return 16 + 8 * index


AF_PACKET = 17
#: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
CLONE_NAMESPACES = (
    0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80
)

#: names of the syscalls answered with EPERM
DENIED = (
    "acct",
    "add_key",
    "adjtimex",
    "bpf",
    "chroot",
    "clock_adjtime",
    "clock_settime",
    "delete_module",
    "fanotify_init",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "personality",
    "pidfd_getfd",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "setdomainname",
    "sethostname",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "syslog",
    "umount2",
    "unshare",
    "userfaultfd",
    "vhangup",
    # x86_64 only (absent from the aarch64 table)
    "create_module",
    "get_kernel_syms",
    "ioperm",
    "iopl",
    "modify_ldt",
    "query_module",
    "uselib",
    "_sysctl",
)

X86_64: dict[str, int] = {
    "_sysctl": 156,
    "acct": 163,
    "add_key": 248,
    "adjtimex": 159,
    "bpf": 321,
    "chroot": 161,
    "clock_adjtime": 305,
    "clock_settime": 227,
    "clone": 56,
    "clone3": 435,
    "create_module": 174,
    "delete_module": 176,
    "fanotify_init": 300,
    "finit_module": 313,
    "fsconfig": 431,
    "fsmount": 432,
    "fsopen": 430,
    "fspick": 433,
    "get_kernel_syms": 177,
    "init_module": 175,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "io_uring_setup": 425,
    "ioperm": 173,
    "iopl": 172,
    "kcmp": 312,
    "kexec_file_load": 320,
    "kexec_load": 246,
    "keyctl": 250,
    "lookup_dcookie": 212,
    "modify_ldt": 154,
    "mount": 165,
    "mount_setattr": 442,
    "move_mount": 429,
    "move_pages": 279,
    "name_to_handle_at": 303,
    "nfsservctl": 180,
    "open_by_handle_at": 304,
    "open_tree": 428,
    "perf_event_open": 298,
    "personality": 135,
    "pidfd_getfd": 438,
    "pivot_root": 155,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "ptrace": 101,
    "query_module": 178,
    "quotactl": 179,
    "quotactl_fd": 443,
    "reboot": 169,
    "request_key": 249,
    "setdomainname": 171,
    "sethostname": 170,
    "setns": 308,
    "settimeofday": 164,
    "socket": 41,
    "swapoff": 168,
    "swapon": 167,
    "syslog": 103,
    "umount2": 166,
    "unshare": 272,
    "uselib": 134,
    "userfaultfd": 323,
    "vhangup": 153,
}

AARCH64: dict[str, int] = {
    "acct": 89,
    "add_key": 217,
    "adjtimex": 171,
    "bpf": 280,
    "chroot": 51,
    "clock_adjtime": 266,
    "clock_settime": 112,
    "clone": 220,
    "clone3": 435,
    "delete_module": 106,
    "fanotify_init": 262,
    "finit_module": 273,
    "fsconfig": 431,
    "fsmount": 432,
    "fsopen": 430,
    "fspick": 433,
    "init_module": 105,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "io_uring_setup": 425,
    "kcmp": 272,
    "kexec_file_load": 294,
    "kexec_load": 104,
    "keyctl": 219,
    "lookup_dcookie": 18,
    "mount": 40,
    "mount_setattr": 442,
    "move_mount": 429,
    "move_pages": 239,
    "name_to_handle_at": 264,
    "nfsservctl": 42,
    "open_by_handle_at": 265,
    "open_tree": 428,
    "perf_event_open": 241,
    "personality": 92,
    "pidfd_getfd": 438,
    "pivot_root": 41,
    "process_vm_readv": 270,
    "process_vm_writev": 271,
    "ptrace": 117,
    "quotactl": 60,
    "quotactl_fd": 443,
    "reboot": 142,
    "request_key": 218,
    "setdomainname": 162,
    "sethostname": 161,
    "setns": 268,
    "settimeofday": 170,
    "socket": 198,
    "swapoff": 225,
    "swapon": 224,
    "syslog": 116,
    "umount2": 39,
    "unshare": 97,
    "userfaultfd": 282,
    "vhangup": 58,
}

#: machine -> (AUDIT_ARCH_*, syscall table, lowest number of a foreign ABI sharing the arch or None)
ARCHES: dict[str, tuple[int, dict[str, int], int | None]] = {
    "x86_64": (0xC000003E, X86_64, 0x40000000),  # x32 numbers have bit 30 set
    "aarch64": (0xC00000B7, AARCH64, None),
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def supported(machine: str | None = None) -> bool:
    """Whether a filter exists for ``machine`` (default: this one)."""
    return (machine or platform.machine()) in ARCHES


def program(machine: str | None = None) -> bytes:
    """The BPF program (``struct sock_filter[]``) for ``machine`` (default: this one).

    Raises ValueError for a machine without a syscall table here."""
    machine = machine or platform.machine()
    if machine not in ARCHES:
        raise ValueError(f"no seccomp syscall table for machine {machine!r}; supported: {', '.join(ARCHES)}")
    audit_arch, table, foreign = ARCHES[machine]
    eperm = RET_ERRNO | errno.EPERM
    out = [
        _insn(_LD_W_ABS, _OFF_ARCH),
        _insn(_JEQ_K, audit_arch, jt=1, jf=0),
        _insn(_RET_K, RET_KILL_PROCESS),
        _insn(_LD_W_ABS, _OFF_NR),
    ]
    if foreign is not None:
        out += [_insn(_JGE_K, foreign, jt=0, jf=1), _insn(_RET_K, RET_KILL_PROCESS)]
    for name in DENIED:
        if name in table:
            out += [_insn(_JEQ_K, table[name], jt=0, jf=1), _insn(_RET_K, eperm)]
    out += [_insn(_JEQ_K, table["clone3"], jt=0, jf=1), _insn(_RET_K, RET_ERRNO | errno.ENOSYS)]
    # clone(flags, ...): any CLONE_NEW* flag -> EPERM (A is reloaded with the number afterwards)
    out += [
        _insn(_JEQ_K, table["clone"], jt=0, jf=4),
        _insn(_LD_W_ABS, _arg_low(0)),
        _insn(_JSET_K, CLONE_NAMESPACES, jt=0, jf=1),
        _insn(_RET_K, eperm),
        _insn(_LD_W_ABS, _OFF_NR),
    ]
    # socket(AF_PACKET, ...) -> EPERM
    out += [
        _insn(_JEQ_K, table["socket"], jt=0, jf=3),
        _insn(_LD_W_ABS, _arg_low(0)),
        _insn(_JEQ_K, AF_PACKET, jt=0, jf=1),
        _insn(_RET_K, eperm),
    ]
    out.append(_insn(_RET_K, RET_ALLOW))
    if len(out) > 4096:  # BPF_MAXINSNS
        raise ValueError(f"seccomp program too long: {len(out)} instructions")
    return b"".join(out)


def program_fd(machine: str | None = None) -> int:
    """A readable fd holding :func:`program` (a pipe; the caller passes it to bwrap and closes it)."""
    data = program(machine)
    read, write = os.pipe()
    try:
        os.write(write, data)  # ~1 KB: fits in the pipe buffer
    finally:
        os.close(write)
    return read
