"""Runs `sam deploy --guided` with the answers docs/deployment.md gives, as far as it goes without
an AWS account, and fails unless it got there: every prompt SAM asks is in the docs' table (in
order, with the default it shows), no prompt aborts or repeats, and the values those answers give
pass the template's own checks (AllowedPattern, AllowedValues, Rules), which CloudFormation would
otherwise apply only once the change set is made. Offline: no credentials are reachable (none in
the environment, no config files, no instance metadata), so SAM stops where it first needs AWS.
Run by scripts/deploy-check.sh from the project's .venv (aws-sam-cli brings PyYAML).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from samcli.yamlhelper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "deployment.md"
TABLE_HEADING = "## Every prompt of `sam deploy --guided`"
# What SAM prints once every prompt is answered, just before its first AWS call.
PAST_THE_PROMPTS = "Looking for resources needed for deployment"


def documented_answers():
    """(prompt, answer) of each row of the docs' table: `Enter` is an empty answer, otherwise the
    first `code` of the answer cell is typed as it stands."""
    text = DOCS.read_text()
    if TABLE_HEADING not in text:
        sys.exit(f"{DOCS.relative_to(ROOT)} has no section {TABLE_HEADING!r}")
    rows = []
    for line in text.split(TABLE_HEADING, 1)[1].splitlines():
        if line.startswith("## "):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or not cells[0].startswith("`"):
            continue
        prompt = cells[0].strip("`")
        if cells[1].startswith("Enter"):
            answer = ""
        else:
            code = re.search(r"`([^`]*)`", cells[1])
            if not code:
                sys.exit(f"the answer to {prompt!r} is neither Enter nor `something to type`")
            answer = code.group(1)
        rows.append((prompt, answer))
    return rows


def run_guided(answers):
    """SAM's output (stdout, stderr) for `sam deploy --guided` fed these answers, in a copy of the
    template and samconfig.toml (a guided run that got further would rewrite samconfig.toml)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "SAM_CLI_", "__SAM_CLI"))
    }
    with tempfile.TemporaryDirectory() as work:
        for name in ("template.yaml", "samconfig.toml"):
            shutil.copy(ROOT / name, work)
        env.update(
            AWS_CONFIG_FILE=os.path.join(work, "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=os.path.join(work, "no-aws-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            SAM_CLI_TELEMETRY="0",
            # SAM's own settings (and its weekly version check's clock) in the scratch folder.
            __SAM_CLI_APP_DIR=os.path.join(work, "sam-app-dir"),
        )
        # A session of its own: no controlling terminal, so hidden prompts read stdin too.
        done = subprocess.run(
            [shutil.which("sam") or "sam", "deploy", "--guided"],
            cwd=work,
            env=env,
            input="".join(answer + "\n" for answer in answers),
            capture_output=True,
            text=True,
            timeout=300,
            start_new_session=True,
        )
    return done.stdout, done.stderr


def prompts_in(stdout):
    """The prompts SAM printed between its banner and its first AWS call, without the colon."""
    asked = stdout.split("=========================================", 1)[-1]
    asked = asked.split(PAST_THE_PROMPTS, 1)[0]
    return [p.strip() for p in re.findall(r"\t([^\t\n#][^\t\n]*?[^\s]):(?=[ \t\n]|$)", asked)]


def effective_values(asked_and_answered):
    """Parameter name → the value the answer gives it (typed, else the default shown)."""
    values = {}
    for prompt, answer in asked_and_answered:
        match = re.fullmatch(r"Parameter (\w+)(?: \[(.*)\])?", prompt)
        if match:
            values[match.group(1)] = answer or (match.group(2) or "")
    return values


def evaluate(node, values):
    """The rule functions our Rules use: Fn::Equals, Fn::Not, Fn::And, Fn::Or, Ref."""
    if not isinstance(node, dict):
        return node
    (function, argument), = node.items()
    if function == "Ref":
        return values[argument]
    if function == "Fn::Equals":
        return evaluate(argument[0], values) == evaluate(argument[1], values)
    if function == "Fn::Not":
        return not evaluate(argument[0], values)
    if function == "Fn::And":
        return all(evaluate(a, values) for a in argument)
    if function == "Fn::Or":
        return any(evaluate(a, values) for a in argument)
    sys.exit(f"guided.py cannot evaluate {function} in the template's Rules")


def template_problems(values):
    template = yaml_parse((ROOT / "template.yaml").read_text())
    problems = []
    for name, spec in template["Parameters"].items():
        value = values.get(name)
        if value is None:
            problems.append(f"SAM did not ask for {name}")
            continue
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(pattern, value):
            problems.append(f"{name}: the documented answer {value!r} fails its AllowedPattern")
        allowed = spec.get("AllowedValues")
        if allowed and value not in [str(v) for v in allowed]:
            problems.append(f"{name}: {value!r} is not one of {allowed}")
    for rule_name, rule in template.get("Rules", {}).items():
        if evaluate(rule.get("RuleCondition", True), values):
            for assertion in rule["Assertions"]:
                if not evaluate(assertion["Assert"], values):
                    problems.append(f"Rule {rule_name}: {assertion['AssertDescription']}")
    return problems


def main():
    rows = documented_answers()
    stdout, stderr = run_guided([answer for _, answer in rows])
    asked = prompts_in(stdout)
    problems = []
    for i, prompt in enumerate(asked):
        expected = rows[i][0] if i < len(rows) else None
        if prompt != expected:
            problems.append(
                f"SAM's prompt {i + 1} is {prompt!r}, docs/deployment.md's is {expected!r}"
            )
            break
    if len(asked) < len(rows) and not problems:
        problems.append(f"SAM asked {len(asked)} prompts, docs/deployment.md lists {len(rows)}")
    if PAST_THE_PROMPTS not in stdout:
        problems.append("SAM did not get past its prompts")
    if not problems:
        problems = template_problems(effective_values(zip(asked, (a for _, a in rows))))
    if problems:
        print(stdout[-3000:], stderr[-3000:], sep="\n", file=sys.stderr)
        sys.exit("the guided deploy as documented does not work:\n  " + "\n  ".join(problems))
    stopped_at = (stderr.strip().splitlines() or ["(nothing)"])[-1]
    print(
        f"sam deploy --guided: the {len(rows)} documented answers pass every prompt and the "
        f"template's checks; without AWS it then stops at: {stopped_at}"
    )


if __name__ == "__main__":
    main()
