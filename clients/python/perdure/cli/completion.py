"""`perdure completion bash|zsh`: shell completion scripts made from the command tree itself,
so every command and flag added to the parser completes without editing a script.

    source <(perdure completion bash)     # ~/.bashrc
    source <(perdure completion zsh)      # ~/.zshrc
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

BASH = """\
# perdure completion for bash (perdure completion bash)
declare -gA _perdure_words=(
{table}
)
_perdure() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" cmdpath="perdure" w
  for w in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
    [[ -n "${{_perdure_words["$cmdpath $w"]+x}}" ]] && cmdpath="$cmdpath $w"
  done
  COMPREPLY=($(compgen -W "${{_perdure_words[$cmdpath]}}" -- "$cur"))
}}
complete -o default -F _perdure perdure
"""

ZSH = """\
#compdef perdure
# perdure completion for zsh (perdure completion zsh)
typeset -gA _perdure_words
_perdure_words=(
{table}
)
_perdure() {{
  local cmdpath="perdure" w
  for w in ${{words[2,CURRENT-1]}}; do
    (( ${{+_perdure_words[$cmdpath $w]}} )) && cmdpath="$cmdpath $w"
  done
  compadd -- ${{=_perdure_words[$cmdpath]}}
}}
if (( $+functions[compdef] )); then compdef _perdure perdure; fi
"""


def words(parser: argparse.ArgumentParser, path: str = "perdure") -> dict[str, list[str]]:
    """Command path ('perdure workflow start') → the words that may follow it: its
    sub-commands and its flags."""
    table: dict[str, list[str]] = {path: []}
    for action in parser._actions:  # argparse has no public walk of its tree
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                table[path].append(name)
                table.update(words(sub, f"{path} {name}"))
        else:
            table[path] += [o for o in action.option_strings if o.startswith("--")]
    return table


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    lines = [
        f"  [{shlex.quote(path)}]={shlex.quote(' '.join(choices))}"
        if shell == "bash"
        else f"  {shlex.quote(path)} {shlex.quote(' '.join(choices))}"
        for path, choices in sorted(words(parser).items())
    ]
    return (BASH if shell == "bash" else ZSH).format(table="\n".join(lines))


def register(commands: Any, root: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "completion",
        help="print a bash or zsh completion script",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("shell", choices=["bash", "zsh"])

    def run(s: Any) -> int:
        print(script(root, s.args.shell), end="")
        return 0

    p.set_defaults(run=run)
