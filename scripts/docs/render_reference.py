#!/usr/bin/env python3
"""Renders the command reference of docs/instructions.md from the tools' own `--experimental-dump-help` JSON.

Usage: render_reference.py INSTRUCTIONS.md DUMP.json [DUMP.json ...] [--check]

Replaces the text between the GENERATED markers of INSTRUCTIONS.md with one section per command (abstract,
discussion, usage line, a table of arguments and flags). With --check nothing is written: it exits 1 and names the
file when the section is out of date. Hand-written text outside the markers is never touched.
"""
import json
import sys

BEGIN = "<!-- BEGIN GENERATED COMMAND REFERENCE (scripts/gen-instructions.sh) -->"
END = "<!-- END GENERATED COMMAND REFERENCE -->"
HIDDEN_FLAGS = {"help", "version", "experimental-dump-help", "generate-completion-script"}


def one_line(text):
    return " ".join((text or "").split()).replace("|", "\\|")


def name_of(name):
    if name["kind"] == "long":
        return "--" + name["name"]
    if name["kind"] == "short":
        return "-" + name["name"]
    return "-" + name["name"]  # longWithSingleDash


def visible_arguments(command):
    for argument in command.get("arguments") or []:
        if not argument.get("shouldDisplay", True):
            continue
        names = [n["name"] for n in argument.get("names") or []]
        # ArgumentParser's own -h/--help and the root's --version flag; an *option* named --version is a command's.
        if argument["kind"] == "flag" and any(n in HIDDEN_FLAGS for n in names):
            continue
        yield argument


def spelling(argument):
    """`--lock <lock>`, `-o, --output <output>`, `--json`, `<name>`, `<paths> ...`."""
    value = argument.get("valueName") or "value"
    if argument["kind"] == "positional":
        text = f"<{value}>"
    else:
        names = sorted(argument.get("names") or [], key=lambda n: (n["kind"] == "long", n["name"]))
        text = ", ".join(name_of(n) for n in names)
        if argument["kind"] == "option":
            text += f" <{value}>"
    if argument.get("isRepeating"):
        text += " ..."
    return text


def usage(path, command):
    parts = [path]
    for argument in visible_arguments(command):
        piece = spelling(argument).split(", ")[-1]
        if argument.get("isOptional") or argument["kind"] == "flag":
            piece = f"[{piece}]"
        parts.append(piece)
    if command.get("subcommands"):
        parts.append("<subcommand>")
    return " ".join(parts)


def describe(argument):
    text = one_line(argument.get("abstract"))
    values = argument.get("allValues") or []
    if values and argument["kind"] != "flag":
        text += f" One of: {', '.join('`' + v + '`' for v in values)}."
    default = argument.get("defaultValue")
    if default not in (None, "", "false") and argument["kind"] != "flag":
        text += f" Default: `{default}`."
    if argument.get("discussion"):
        text += " " + one_line(argument["discussion"])
    return text.strip()


def render(command, path, level, out):
    out.append(f"{'#' * level} `{path}`")
    out.append("")
    if command.get("abstract"):
        out.append(command["abstract"].strip())
        out.append("")
    if command.get("discussion"):
        out.append(command["discussion"].strip())
        out.append("")
    out.append("```")
    out.append(usage(path, command))
    out.append("```")
    out.append("")
    arguments = list(visible_arguments(command))
    if arguments:
        out.append("| argument | description |")
        out.append("|---|---|")
        for argument in arguments:
            out.append(f"| `{spelling(argument)}` | {describe(argument)} |")
        out.append("")
    subcommands = [
        s for s in command.get("subcommands") or [] if s.get("shouldDisplay", True) and s["commandName"] != "help"
    ]
    if subcommands:
        default = command.get("defaultSubcommand")
        names = ", ".join(
            f"`{s['commandName']}`" + (" (default)" if s["commandName"] == default else "") for s in subcommands)
        out.append(f"Subcommands: {names}.")
        out.append("")
    for sub in subcommands:
        render(sub, f"{path} {sub['commandName']}", min(level + 1, 5), out)


def main(argv):
    check = "--check" in argv
    argv = [a for a in argv if a != "--check"]
    doc_path, dumps = argv[0], argv[1:]
    out = [BEGIN, ""]
    for dump in dumps:
        with open(dump, encoding="utf-8") as f:
            tool = json.load(f)["command"]
        render(tool, tool["commandName"], 3, out)
    out.append(END)
    generated = "\n".join(out)
    with open(doc_path, encoding="utf-8") as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        print(f"{doc_path}: the markers {BEGIN!r} / {END!r} are missing", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + generated + tail
    if check:
        if new != text:
            print(f"{doc_path}: the command reference is out of date; run scripts/gen-instructions.sh", file=sys.stderr)
            return 1
        return 0
    if new != text:
        with open(doc_path + ".partial", "w", encoding="utf-8") as f:
            f.write(new)
        import os
        os.replace(doc_path + ".partial", doc_path)
        print(f"updated {doc_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
