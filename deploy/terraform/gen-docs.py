#!/usr/bin/env python3
"""Writes the Inputs and Outputs tables of each module's README from its variables.tf and
outputs.tf (between the <!-- BEGIN_TF_DOCS --> / <!-- END_TF_DOCS --> markers), the way
terraform-docs does. With --check it only reports whether a README is out of date."""
import json
import pathlib
import re
import sys

import hcl2

BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def unquote(value):
    """python-hcl2 keeps HCL's quotes on strings and keys; take them off, recursively."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            try:
                return json.loads(text, strict=False)
            except json.JSONDecodeError:  # a heredoc: quoted, but its inner quotes are not escaped
                return text[1:-1].replace('\\"', '"')
        if text.startswith("<<"):  # heredoc: drop the marker lines and the indentation
            body = text.split("\n")[1:-1]
            return " ".join(line.strip() for line in body)
        if text.startswith("${") and text.endswith("}"):
            return text[2:-1]
        return text
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def cell(value) -> str:
    """One markdown table cell: heredoc markers dropped, pipes and angle brackets escaped."""
    text = re.sub(r"^<<-?(\w+)\s+(.*?)\s*\1$", r"\2", str(value).strip(), flags=re.S)
    text = text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())


def blocks(path: pathlib.Path, kind: str):
    """(name, spec) of every `kind` block of a file, unquoted."""
    for block in hcl2.load(open(path)).get(kind, []):
        for name, spec in unquote(block).items():
            yield name, spec


def tables(module: pathlib.Path) -> str:
    lines = ["## Inputs", "", "| Name | Description | Type | Default |", "|---|---|---|---|"]
    for name, spec in blocks(module / "variables.tf", "variable"):
        default = f"`{cell(json.dumps(spec['default']))}`" if "default" in spec else "n/a (required)"
        kind = f"`{cell(spec.get('type', 'any'))}`"
        lines.append(f"| `{name}` | {cell(spec.get('description', ''))} | {kind} | {default} |")
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for name, spec in blocks(module / "outputs.tf", "output"):
        lines.append(f"| `{name}` | {cell(spec.get('description', ''))} |")
    return "\n".join(lines)


def render(readme: pathlib.Path, module: pathlib.Path) -> str:
    text = readme.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{tables(module)}\n{END}{tail}"


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    here = pathlib.Path(__file__).parent
    for module in sorted([*here.glob("modules/*"), *here.glob("modules/*/modules/*")]):
        readme = module / "README.md"
        new = render(readme, module)
        if new != readme.read_text():
            stale.append(str(readme))
            if not check:
                readme.write_text(new)
    if check and stale:
        print("out of date (run deploy/terraform/gen-docs.py):", *stale)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
