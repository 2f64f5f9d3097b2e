"""The seccomp-BPF generator: syscall numbers match the kernel headers, the program is well formed."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from pytest_openwhisk.local import seccomp

HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),
}


def _header_numbers(path: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for name, number in re.findall(r"#define __NR(?:3264)?_(\w+)\s+(\d+)\b", path.read_text()):
        found.setdefault(name, int(number))
    return found


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
def test_syscall_numbers_match_the_kernel_headers(machine: str) -> None:
    header = HEADERS[machine]
    if not header.exists():
        pytest.skip(f"{header} not installed (apt-get install linux-libc-dev)")
    numbers = _header_numbers(header)
    table = seccomp.ARCHES[machine][1]
    wrong = {name: (nr, numbers.get(name)) for name, nr in table.items() if numbers.get(name) != nr}
    assert wrong == {}


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
def test_every_denied_syscall_of_the_table_is_in_the_program(machine: str) -> None:
    program = seccomp.program(machine)
    assert len(program) % 8 == 0
    insns = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    audit_arch, table, _ = seccomp.ARCHES[machine]
    assert insns[0] == (0x20, 0, 0, 4)  # load the arch
    assert insns[1][0] == 0x15 and insns[1][3] == audit_arch  # noqa: PT018
    assert insns[2] == (0x06, 0, 0, seccomp.RET_KILL_PROCESS)  # foreign ABI: killed
    compared = {k for code, _, _, k in insns if code == 0x15}
    for name in seccomp.DENIED:
        if name in table:
            assert table[name] in compared, name
    assert insns[-1] == (0x06, 0, 0, seccomp.RET_ALLOW)
    for index, (code, jt, jf, _) in enumerate(insns):  # every jump lands inside the program
        if code & 0x07 == 0x05:
            assert index + 1 + max(jt, jf) < len(insns)


def test_an_unknown_machine_is_refused_with_the_supported_ones() -> None:
    with pytest.raises(
        ValueError, match=r"no seccomp syscall table for machine 'mips'; supported: x86_64, aarch64"
    ):
        seccomp.program("mips")
    assert not seccomp.supported("mips")
