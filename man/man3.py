#!/usr/bin/env python3
"""man3.py HEADER OUTDIR - the section 3 pages of vmsync, made from
include/vmsync.h, where each call's contract is written once: one page per
part of the header (a family of calls, liburing style), a link page for each
other function of it, and vmsync(3), the overview.  test-man3 checks that
the pages in the tree are what this makes, and that every function has one.
"""
import os
import re
import sys

VERSION = "vmsync 1.0"
# The header's parts, in order: (page, what the family is).
FAMILIES = [
    ("vms_phys", "pools of physical frames"),
    ("vms_mm", "host address spaces: mapping calls, advice, accesses, page references"),
    ("vms_mmu_notifier", "MMU notifiers and interval notifiers"),
    ("vms_swap", "swap backends and tiers: file, Redis, compressed"),
    ("vms_migrate", "migration between pools and tiering"),
    ("vms_phys_stats", "the pools' counters"),
    ("vms_vm", "virtual machines and their memslots"),
    ("vms_vcpu", "vCPUs and guest accesses"),
    ("vms_vm_stats", "counters of VMs and address spaces"),
    ("vms_kvm_pager", "paging the RAM of real KVM guests"),
]
BANNER = re.compile(r"^/\* -{20,} \*/$")


def roff(text):
    """Text as roff: backslashes escaped, no line starting a request."""
    out = []
    for line in text.split("\n"):
        line = line.replace("\\", "\\e")
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def comment_text(block):
    """The words of a C comment block, paragraphs kept."""
    lines = []
    for line in block.split("\n"):
        line = line.strip()
        line = re.sub(r"^/\*+", "", line)
        line = re.sub(r"\*+/$", "", line)
        line = re.sub(r"^\* ?", "", line)
        lines.append(line.rstrip())
    return "\n".join(lines).strip()


def parts(header):
    """The header cut at its banners: [(title, body)], the first one the
    text before the first banner."""
    lines = header.split("\n")
    out, title, body, i = [], None, [], 0
    while i < len(lines):
        if BANNER.match(lines[i]):
            out.append((title, "\n".join(body)))
            i += 1
            start = i
            while not lines[i].rstrip().endswith("*/"):
                i += 1
            title = comment_text("\n".join(lines[start:i + 1]))
            body = []
        else:
            body.append(lines[i])
        i += 1
    out.append((title, "\n".join(body)))
    return out


def items(body):
    """A part as [(comment, code)]: each run of code with the comment just
    above it (code without one has an empty comment)."""
    out, comment, code = [], [], []
    lines = body.split("\n")
    i = 0

    def flush():
        if code and any(c.strip() for c in code):
            out.append((comment_text("\n".join(comment)), "\n".join(code).strip("\n")))

    while i < len(lines):
        line = lines[i]
        if line.startswith("/*") and not code:
            start = i
            while not lines[i].rstrip().endswith("*/"):
                i += 1
            comment = lines[start:i + 1]
        elif line.startswith("/*"):
            flush()
            comment, code = [], []
            continue
        elif not line.strip():
            if code:
                flush()
                comment, code = [], []
        elif line.startswith("#endif") or line.startswith("#ifdef __cplusplus") \
                or line.strip() in ("}", 'extern "C" {'):
            pass
        else:
            code.append(line)
        i += 1
    flush()
    return out


def functions(code):
    """The calls a piece of the header declares: exported, or inline."""
    return re.findall(r"^(?:VMS_API\n|static inline )[^(]*?\b(vms_[a-z0-9_]+)\(",
                      code, re.M)


def page(name, what, family_items, see_also):
    names = [f for _, code in family_items for f in functions(code)]
    out = [f'.TH {name.upper()} 3 "" "{VERSION}" "vmsync manual"',
           ".SH NAME",
           roff(", ".join(names or [name])) + " \\- " + roff(what),
           ".SH SYNOPSIS", ".nf", ".B #include <vmsync.h>", ".PP"]
    for _, code in family_items:
        if code:
            out += [roff(code.replace("VMS_API\n", "")), ""]
    out += [".fi", ".PP", "Link with", ".IR -lvmsync ,",
            "or as",
            ".B pkg-config --cflags --libs vmsync",
            "says.", ".SH DESCRIPTION"]
    for comment, code in family_items:
        fns = functions(code)
        if fns:
            out.append(".SS " + roff(", ".join(f + "()" for f in fns)))
        elif comment:
            out.append(".PP")
        if comment:
            for para in comment.split("\n\n"):
                out += [roff(para), ".PP"]
    if any(re.search(r"^int ", code, re.M) for _, code in family_items):
        out += [".SH RETURN VALUE",
                "The calls that return", ".B int",
                "return 0 on success and a negative errno value on failure,",
                "the ones each call names above; none exits the process."]
    out += [".SH SEE ALSO", ",\n".join(f".BR {s} (3)" for s in see_also)]
    return "\n".join(out) + "\n", names


def main():
    header, outdir = sys.argv[1], sys.argv[2]
    with open(header) as f:
        cut = parts(f.read())
    intro, fams = cut[0], cut[1:]
    if len(fams) != len(FAMILIES):
        sys.exit(f"man3.py: {header} has {len(fams)} parts, FAMILIES names "
                 f"{len(FAMILIES)}: name the new part")
    os.makedirs(outdir, exist_ok=True)
    pages = {}
    for (name, what), (title, body) in zip(FAMILIES, fams):
        fam = items(body)
        if title:
            fam.insert(0, (title, ""))
        text, names = page(name, what, fam,
                           ["vmsync"] + [n for n, _ in FAMILIES if n != name])
        pages[name + ".3"] = text
        for fn in names:
            if fn != name:
                pages[fn + ".3"] = f".so man3/{name}.3\n"
    overview = [f'.TH VMSYNC 3 "" "{VERSION}" "vmsync manual"', ".SH NAME",
                "vmsync \\- the vmsync library: a user-space guest-memory manager",
                ".SH SYNOPSIS", ".nf", ".B #include <vmsync.h>", ".fi", ".PP",
                ".B cc prog.c $(pkg-config --cflags --libs vmsync)",
                ".SH DESCRIPTION"]
    m = re.match(r"/\*(.*?)\*/", intro[1], re.S)
    for para in comment_text(m.group(0) if m else "").split("\n\n"):
        overview += [roff(para), ".PP"]
    overview.append("The calls, by family:")
    for name, what in FAMILIES:
        overview += [".TP", f".BR {name} (3)", roff(what)]
    overview += [".SH SEE ALSO", ".BR vmsync (1)"]
    pages["vmsync.3"] = "\n".join(overview) + "\n"
    for fname, text in sorted(pages.items()):
        with open(os.path.join(outdir, fname), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
