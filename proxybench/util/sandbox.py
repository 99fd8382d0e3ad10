"""Operating-system confinement of a process with Linux Landlock, through ctypes syscalls (no dependency).

Why: a plugin runs code we did not write next to data it must not see (the client's rows, the other
side's pipes). Landlock lets an unprivileged process drop, for itself and every child it will start,
the right to touch files outside a few trees, to connect or bind TCP ports outside a list, and (ABI 6)
to signal or reach abstract unix sockets of processes outside its domain. A Landlock domain also
denies ptrace of processes outside it, so a confined plugin cannot read ``/proc/PID/mem`` or
``/proc/PID/environ`` of the harness or of its peers; for that, :func:`confine` also drops every
capability (a root process keeps them under Landlock, and CAP_PERFMON lets /proc/PID/environ past it).
Landlock does not govern UDP, raw or pathname unix sockets, nor stat() of names outside the trees.

Use: call :func:`confine` early in a freshly started process, while it has a single thread (Landlock
restricts only the calling thread), before importing libraries that start thread pools. Where
Landlock is missing it still sets the process-wide hardening (no new privileges, not dumpable) and
says why nothing more was done; callers record :meth:`Confinement.to_record` with the run.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.util
import os
import platform
import stat
import sys
from dataclasses import dataclass, field

from proxybench.util.errors import ProxybenchError

# landlock_create_ruleset, landlock_add_rule, landlock_restrict_self: the generic numbers, shared by every
# architecture Linux added them to after the syscall tables were unified (alpha and mips differ).
_SYSCALL_NRS = (444, 445, 446)
_ARCHES = {"x86_64", "aarch64", "arm64", "i386", "i686", "armv7l", "riscv64", "ppc64le", "ppc64", "s390x", "loongarch64"}

_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2

# Filesystem access rights (uapi/linux/landlock.h). Bits 0-12 since ABI 1.
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2: rename or link across directories
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5: ioctl on character and block devices
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

#: What a read-only tree grants: read files, list directories, execute.
READ_RIGHTS = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
#: The only rights the kernel accepts on a rule whose path is a file (not a directory).
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV

_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is __attribute__((packed)): 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


@dataclass(frozen=True)
class SandboxPolicy:
    """What a confined process may still do; everything else Landlock handles is denied."""

    read: tuple[str, ...] = ()  # trees readable (read files, list dirs, execute)
    write: tuple[str, ...] = ()  # trees readable and writable (create, remove, truncate, ...)
    tcp_connect: tuple[int, ...] = ()  # the only TCP ports connect() may reach (ABI >= 4); empty: none
    tcp_bind: tuple[int, ...] = ()  # the only TCP ports bind() may take (ABI >= 4); empty: none
    tcp_open: bool = False  # leave TCP unrestricted (a cloud that talks to a dask cluster, whose ports are not known)

    def __post_init__(self):
        for name in ("tcp_connect", "tcp_bind"):
            for port in getattr(self, name):
                if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
                    raise ProxybenchError(f"SandboxPolicy.{name}: port {port!r} is not an int in 0..65535")
        for name in ("read", "write"):
            if isinstance(getattr(self, name), str):  # a bare string would be split into one-letter paths
                raise ProxybenchError(f"SandboxPolicy.{name} must be a tuple of paths, not the string {getattr(self, name)!r}")


@dataclass(frozen=True)
class Confinement:
    """What :func:`confine` achieved, to be written into a run's record."""

    mechanism: str  # "landlock-abi7" or "none"
    reason: str = ""  # why "none" (e.g. "Landlock unavailable: ENOSYS"), "" otherwise
    # parts of the policy the running kernel could not enforce (e.g. "tcp" below ABI 4): they stay open
    unenforced: tuple[str, ...] = field(default=())

    def to_record(self) -> dict:
        """A JSON-serializable dict for RunRecords: whether the process really was confined, and how."""
        return {"mechanism": self.mechanism, "reason": self.reason, "unenforced": list(self.unenforced)}


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL | None:
    """The C library (for syscall and prctl), or None where it cannot be loaded."""
    global _LIBC
    if _LIBC is None and sys.platform.startswith("linux"):
        try:
            _LIBC = ctypes.CDLL(None, use_errno=True)
            _LIBC.syscall.restype = ctypes.c_long
            _LIBC.prctl.restype = ctypes.c_int
        except (OSError, AttributeError):
            _LIBC = None
    return _LIBC


def _syscall(nr: int, *args) -> int:
    """One raw syscall; raises OSError with the kernel's errno."""
    libc = _libc()
    assert libc is not None
    ret = libc.syscall(ctypes.c_long(nr), *args)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _probe() -> tuple[int, str]:
    """(Landlock ABI, "") where usable, else (0, why not)."""
    if not sys.platform.startswith("linux"):
        return 0, f"Landlock unavailable: not Linux ({sys.platform})"
    if platform.machine() not in _ARCHES:
        return 0, f"Landlock unavailable: syscall numbers unknown for architecture {platform.machine()!r}"
    if _libc() is None:
        return 0, "Landlock unavailable: the C library cannot be loaded"
    try:
        abi = _syscall(_SYSCALL_NRS[0], None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except OSError as e:
        # ENOSYS: kernel without Landlock (or seccomp hides it); EOPNOTSUPP: built in but disabled at boot
        return 0, f"Landlock unavailable: {errno.errorcode.get(e.errno, str(e.errno))}"
    return int(abi), ""


def landlock_abi() -> int:
    """The running kernel's Landlock ABI version; 0 where unavailable (not Linux, old kernel, disabled, blocked)."""
    return _probe()[0]


def _fs_rights(abi: int) -> int:
    """Every filesystem right the given ABI knows (handling them all denies all by default)."""
    top = {1: FS_MAKE_SYM, 2: FS_REFER, 3: FS_TRUNCATE, 4: FS_TRUNCATE}.get(abi, FS_IOCTL_DEV)
    return (top << 1) - 1


def _unenforced(abi: int, policy: SandboxPolicy) -> tuple[str, ...]:
    """What this ABI leaves open that a newer one would close."""
    gaps = []
    if abi < 2:
        gaps.append("refer (always denied at ABI 1)")
    if abi < 3:
        gaps.append("truncate")
    if abi < 4:
        gaps.append(f"tcp (connect {list(policy.tcp_connect)}, bind {list(policy.tcp_bind)} asked; all ports stay open)")
    if abi < 5:
        gaps.append("device ioctl")
    if abi < 6:
        gaps.append("signal and abstract-unix-socket scoping")
    return tuple(gaps)


def _existing(paths) -> list[str]:
    """Absolute paths (and the real path behind each symlink) that exist, each once, in order."""
    seen: dict[str, None] = {}
    for p in paths:
        if not p:
            continue  # "" on sys.path means the working directory: the caller decides whether to allow it
        for q in (os.path.abspath(p), os.path.realpath(p)):
            if os.path.exists(q):
                seen.setdefault(q, None)
    return list(seen)


def runtime_read_paths(other_processes: bool = True) -> tuple[str, ...]:
    """What a Python process of this interpreter and venv reads to keep importing and running, existing only.

    The interpreter and the venv (prefixes, sys.path; "" is left out), proxybench's own folders (an editable
    install maps them outside sys.path), system libraries (/usr, /lib: the ELF loader itself, so without
    them not even exec works) and configuration (/etc: ld.so.cache, localtime, ssl), /dev/null, zero and
    urandom (torch refuses to import without /dev/urandom), and /proc and /sys read-only (torch, numpy and
    OpenBLAS read CPU counts and cgroup limits there when present). Not /dev/shm: read-only it only
    exposes other processes' shared memory; a process that uses multiprocessing needs it in `write`.

    ``other_processes=False`` narrows /proc to this process's own folder and the system-wide files
    libraries read (cpuinfo, meminfo, stat, sys): every process's command line is world-readable
    there, and a harness's names the client's domain.
    """
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the proxybench package
    packages = [here]
    try:
        spec = importlib.util.find_spec("proxybench.plugins")
        packages += list(spec.submodule_search_locations or []) if spec else []
    except (ImportError, ValueError):
        pass
    candidates = [
        sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.dirname(sys.executable),
        *sys.path, *packages,
        "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc",
        "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random",
        *(("/proc",) if other_processes else
          (f"/proc/{os.getpid()}", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/sys", "/proc/filesystems")),
        "/sys",
    ]
    return tuple(_existing(candidates))


def _prctl(libc: ctypes.CDLL, option: int, *args: int) -> int:
    """prctl with every argument a full unsigned long (some options require the unused ones to be 0)."""
    padded = [ctypes.c_ulong(a) for a in (*args, 0, 0, 0, 0)[:4]]
    return libc.prctl(ctypes.c_int(option), *padded)


def _thread_count() -> int | None:
    """Threads of this process (from /proc/self/task), or None where that cannot be counted."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def _harden() -> None:
    """No new privileges (required by Landlock without CAP_SYS_ADMIN; setuid binaries gain nothing) and not
    dumpable (other processes of the same user cannot ptrace us or read /proc/PID/mem)."""
    libc = _libc()
    if libc is None:
        return
    for option, value in ((_PR_SET_NO_NEW_PRIVS, 1), (_PR_SET_DUMPABLE, 0)):
        if _prctl(libc, option, value) != 0:
            err = ctypes.get_errno()
            raise ProxybenchError(f"prctl({option}, {value}) failed: {os.strerror(err)}")


def _drop_capabilities() -> None:
    """Drop every capability, now and across execve. Landlock leaves them: a confined root could still load a
    kernel module, open raw sockets, or (CAP_PERFMON or CAP_SYS_ADMIN, Linux >= 6.16) read other processes'
    /proc/PID/environ, maps and auxv, which that capability lets past the ptrace hook Landlock relies on."""
    libc = _libc()
    if libc is None:
        return
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):  # the bounding set: needs CAP_SETPCAP; without it exec cannot gain caps anyway (NNP)
        if _prctl(libc, _PR_CAPBSET_READ, cap) == 1:
            _prctl(libc, _PR_CAPBSET_DROP, cap)
    _prctl(libc, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)  # EINVAL before Linux 4.3
    header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise ProxybenchError(f"capset (dropping all capabilities) failed: {os.strerror(err)}")


def _add_path_rule(ruleset_fd: int, path: str, rights: int) -> None:
    """Allow `rights` beneath `path`; a missing path is skipped, a file gets only the file rights."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= FILE_RIGHTS
        attr = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        _syscall(_SYSCALL_NRS[1], ctypes.c_int(ruleset_fd), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(attr),
                 ctypes.c_uint32(0))
    except OSError as e:
        raise ProxybenchError(f"Landlock refused the rule for {path!r}: {os.strerror(e.errno or 0)}") from e
    finally:
        os.close(fd)


def _add_port_rule(ruleset_fd: int, port: int, rights: int) -> None:
    attr = _NetPortAttr(allowed_access=rights, port=port)
    try:
        _syscall(_SYSCALL_NRS[1], ctypes.c_int(ruleset_fd), ctypes.c_int(_RULE_NET_PORT), ctypes.byref(attr),
                 ctypes.c_uint32(0))
    except OSError as e:
        raise ProxybenchError(f"Landlock refused the rule for TCP port {port}: {os.strerror(e.errno or 0)}") from e


def confine(policy: SandboxPolicy) -> Confinement:
    """Confine this process, and every process it starts from now on, to `policy`; irreversible.

    Also sets no-new-privs and non-dumpable, and drops every capability (Landlock does not). Refuses
    (ProxybenchError) when the process has more than one thread, since Landlock would leave the other
    threads free. Where Landlock is unavailable it returns ``Confinement("none", reason)`` after
    the prctl hardening: the caller decides whether running unconfined is acceptable.
    """
    threads = _thread_count()
    if threads is not None and threads > 1:
        raise ProxybenchError(
            f"confine() needs a single-threaded process, this one has {threads} threads: Landlock restricts only "
            "the calling thread, so confine before starting threads or importing libraries that start thread pools"
        )
    _harden()
    abi, reason = _probe()
    if abi == 0:
        _drop_capabilities()
        return Confinement("none", reason, ("filesystem", "tcp", "ptrace and signal scoping"))

    handled_fs = _fs_rights(abi)
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 and not policy.tcp_open else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    attr = _RulesetAttr(handled_access_fs=handled_fs, handled_access_net=handled_net, scoped=scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24  # older kernels know only the struct's first fields
    try:
        ruleset_fd = _syscall(_SYSCALL_NRS[0], ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    except OSError as e:
        raise ProxybenchError(f"landlock_create_ruleset failed at ABI {abi}: {os.strerror(e.errno or 0)}") from e
    try:
        for path in policy.read:
            _add_path_rule(ruleset_fd, path, READ_RIGHTS & handled_fs)
        for path in policy.write:
            _add_path_rule(ruleset_fd, path, handled_fs)
        if handled_net:
            for port in sorted(set(policy.tcp_connect)):
                _add_port_rule(ruleset_fd, port, NET_CONNECT_TCP)
            for port in sorted(set(policy.tcp_bind)):
                _add_port_rule(ruleset_fd, port, NET_BIND_TCP)
        _drop_capabilities()  # after the rules (opening their paths may need them), before /proc is out of reach
        try:
            _syscall(_SYSCALL_NRS[2], ctypes.c_int(ruleset_fd), ctypes.c_uint32(0))
        except OSError as e:
            raise ProxybenchError(f"landlock_restrict_self failed: {os.strerror(e.errno or 0)}") from e
    finally:
        os.close(ruleset_fd)
    gaps = _unenforced(abi, policy) + (("tcp (left open by the policy)",) if policy.tcp_open else ())
    return Confinement(f"landlock-abi{abi}", "", gaps)
