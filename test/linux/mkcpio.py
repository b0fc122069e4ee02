#!/usr/bin/env python3
"""Writes a Linux initramfs: a "newc" cpio archive of a directory tree.

  mkcpio.py TREE OUT [--node PATH:c:MAJOR:MINOR ...]

Files, directories and symlinks come from TREE with mode bits kept and
owner root; --node adds device nodes (e.g. /dev/console) that an
unprivileged build could not mknod. The layout of a newc entry (110-byte
ASCII-hex header, name, data, each padded to 4 bytes) is the kernel's
Documentation/driver-api/early-userspace/buffer-format.rst.
"""
import os
import stat
import sys


def header(ino, mode, size, nlink, name, rmajor=0, rminor=0):
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, len(name) + 1, 0]
    return b"070701" + b"".join(b"%08x" % f for f in fields)


def pad(data):
    return data + b"\0" * (-len(data) % 4)


def entry(ino, mode, name, data=b"", nlink=1, rmajor=0, rminor=0):
    head = header(ino, mode, len(data), nlink, name, rmajor, rminor)
    return pad(head + name.encode() + b"\0") + pad(data)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    tree, out = sys.argv[1], sys.argv[2]
    nodes = []
    args = sys.argv[3:]
    while args:
        if args[0] != "--node" or len(args) < 2:
            sys.exit("mkcpio.py: expected --node PATH:c:MAJOR:MINOR")
        path, kind, major, minor = args[1].split(":")
        if kind != "c":
            sys.exit("mkcpio.py: only character nodes are supported")
        nodes.append((path.lstrip("/"), int(major), int(minor)))
        args = args[2:]

    parts = []
    ino = 1
    for root, dirs, files in os.walk(tree):
        dirs.sort()
        rel_root = os.path.relpath(root, tree)
        for name in [""] + sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name) if name else root
            rel = os.path.normpath(os.path.join(rel_root, name)) if name else rel_root
            if rel == ".":
                continue
            st = os.lstat(path)
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                parts.append(entry(ino, stat.S_IFLNK | 0o777, rel, os.readlink(path).encode()))
            elif stat.S_ISDIR(st.st_mode):
                parts.append(entry(ino, stat.S_IFDIR | perm, rel, nlink=2))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    parts.append(entry(ino, stat.S_IFREG | perm, rel, f.read()))
            else:
                sys.exit("mkcpio.py: %s: unsupported file type" % path)
            ino += 1
    for rel, major, minor in nodes:
        parts.append(entry(ino, stat.S_IFCHR | 0o600, rel, rmajor=major, rminor=minor))
        ino += 1
    parts.append(entry(0, 0, "TRAILER!!!"))
    with open(out, "wb") as f:
        f.write(b"".join(parts))


if __name__ == "__main__":
    main()
