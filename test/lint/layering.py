#!/usr/bin/env python3
"""Layering gate: includes point down the layer stack only (DESIGN.md).

A file in layer L may include headers of layers <= L. Headers are named from
their layer: <lib/...>, <arch/x86/...>, <mm/...>, <core/...>, ...; the
boot contract headers in vmkernel/include/ are named bare (<boot_info.h>).
A quoted include may only name a header in the including file's directory.
Only the vendor directories vmx/ and svm/ see their own headers (VMCS and
VMCB definitions); the rest of the vmkernel reaches them through the neutral
interface in NEUTRAL_INTERFACE. Kernel code may include no C library header
beyond the freestanding ones.

usage: layering.py [--root DIR] [FILE...]   (default: every .c .h .S file
under the trees in LAYERS). Exit 0 clean, 1 violations, 2 usage error.
"""
import argparse
import os
import re
import sys

# Path prefix (relative to the repository) -> (layer name, rank). The longest
# matching prefix wins. Equal ranks may include each other.
LAYERS = [
    ("vmkernel/lib/", "lib", 0),
    ("vmkernel/include/", "include", 0),
    # The EFI loader is a separate program: it shares only the boot contract
    # and lib with the vmkernel.
    ("boot/efi/", "boot-efi", 0),
    ("vmkernel/arch/", "arch", 1),
    # Multiboot entry code runs before vmkernel_main(): platform level.
    ("boot/multiboot/", "boot", 1),
    ("vmkernel/mm/", "mm", 2),
    ("vmkernel/core/", "core", 3),
    ("vmkernel/sched/", "sched", 4),
    ("vmkernel/vm/", "vm", 5),
    ("vmkernel/vdev/", "vdev", 6),
    ("drivers/", "drivers", 7),
    ("vmkernel/storage/", "storage", 8),
    ("vmkernel/net/", "net", 8),
    ("vmkernel/mgmt/", "mgmt", 9),
    # Files directly under vmkernel/ (init) wire every layer together.
    ("vmkernel/", "init", 10),
]

# How a header is named in an #include: name prefix -> directory holding it.
INCLUDE_ROOTS = [
    ("lib/", "vmkernel/lib/"),
    ("arch/", "vmkernel/arch/"),
    ("mm/", "vmkernel/mm/"),
    ("core/", "vmkernel/core/"),
    ("sched/", "vmkernel/sched/"),
    ("vm/", "vmkernel/vm/"),
    ("vdev/", "vmkernel/vdev/"),
    ("drivers/", "drivers/"),
    ("storage/", "vmkernel/storage/"),
    ("net/", "vmkernel/net/"),
    ("mgmt/", "vmkernel/mgmt/"),
]
BARE_INCLUDE_DIR = "vmkernel/include/"

# Vendor directories private to themselves (and not to each other).
PRIVATE_DIRS = ["vmkernel/arch/x86/vmx/", "vmkernel/arch/x86/svm/"]
# The neutral backend interface: the one place outside the vendor
# directories allowed to name their headers (to pick the ops table).
NEUTRAL_INTERFACE = ["vmkernel/arch/x86/virt.h", "vmkernel/arch/x86/virt.c"]

# Headers from outside the tree a file may name, by path prefix. Kernel code
# is freestanding: GCC's own headers only, never glibc's.
FREESTANDING = {"float.h", "iso646.h", "limits.h", "stdalign.h", "stdarg.h",
                "stdbool.h", "stddef.h", "stdint.h", "stdnoreturn.h"}
EXTERNAL = [
    # Multiboot specification headers from Debian (DESIGN.md, Dependencies).
    ("boot/multiboot/", {"multiboot/multiboot.h", "multiboot.h", "multiboot2.h"}),
    # GNU-EFI.
    ("boot/efi/", {"efi.h", "efilib.h", "efiapi.h", "efibind.h", "efiprot.h"}),
    # The portable VMFS library (vmfs/lib/include), used by the storage layer.
    ("vmkernel/storage/", {"vmfs/vmfs.h", "vmfs/vmfs_os.h"}),
]

SOURCE_SUFFIXES = (".c", ".h", ".S")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def layer_of(path):
    best = None
    for prefix, name, rank in LAYERS:
        if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, name, rank)
    return best


def resolve(root, src, kind, name):
    """Repository-relative path of an included header, or None."""
    if kind == '"':
        candidate = os.path.normpath(os.path.join(os.path.dirname(src), name))
        if os.path.isfile(os.path.join(root, candidate)):
            return candidate
    for prefix, directory in INCLUDE_ROOTS:
        if name.startswith(prefix):
            candidate = os.path.normpath(directory + name[len(prefix):])
            if os.path.isfile(os.path.join(root, candidate)):
                return candidate
    candidate = os.path.normpath(BARE_INCLUDE_DIR + name)
    if os.path.isfile(os.path.join(root, candidate)):
        return candidate
    return None


def private_dir_of(path):
    for directory in PRIVATE_DIRS:
        if path.startswith(directory):
            return directory
    return None


def external_allowed(src, name):
    if name in FREESTANDING:
        return True
    for prefix, names in EXTERNAL:
        if src.startswith(prefix) and name in names:
            return True
    return False


def check_file(root, src):
    problems = []
    src_layer = layer_of(src)
    if src_layer is None:
        return problems
    try:
        with open(os.path.join(root, src), encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError as e:
        return [f"{src}: cannot read: {e}"]
    for number, line in enumerate(lines, 1):
        m = INCLUDE_RE.match(line)
        if not m:
            continue
        kind, name = m.group(1), m.group(2).strip()
        where = f"{src}:{number}"
        spelled = f'<{name}>' if kind == '<' else f'"{name}"'

        target = resolve(root, src, kind, name)
        if target is None:
            if kind == '<' and external_allowed(src, name):
                continue
            problems.append(f"{where}: #include {spelled}: not a vmkernel header"
                            " and not an allowed freestanding/external header")
            continue
        if kind == '"' and os.path.dirname(target) != os.path.dirname(src):
            problems.append(f"{where}: #include {spelled}: name headers of other"
                            " directories by layer, as <layer/...>")
        target_layer = layer_of(target)
        if target_layer is None:
            problems.append(f"{where}: #include {spelled}: {target} is in no layer")
            continue
        if target_layer[2] > src_layer[2]:
            problems.append(f"{where}: layer {src_layer[1]} includes {target}"
                            f" of higher layer {target_layer[1]}")
        target_private = private_dir_of(target)
        if target_private and target_private != private_dir_of(src) \
                and src not in NEUTRAL_INTERFACE:
            problems.append(f"{where}: includes {target}: outside {target_private}"
                            f" only the neutral interface ({', '.join(NEUTRAL_INTERFACE)}) may")
    return problems


def all_sources(root):
    trees = sorted({prefix.split("/")[0] for prefix, _, _ in LAYERS})
    for tree in trees:
        for directory, _, files in os.walk(os.path.join(root, tree)):
            for name in sorted(files):
                if name.endswith(SOURCE_SUFFIXES):
                    yield os.path.relpath(os.path.join(directory, name), root)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=".")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    files = args.files or sorted(all_sources(root))
    problems = []
    for src in files:
        problems += check_file(root, os.path.relpath(os.path.abspath(src), root)
                               if os.path.isabs(src) else src)
    for p in problems:
        print(p)
    print(f"summary: {len(problems)} layering violation(s) in {len(files)} file(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
