"""Checks a state machine before it is stored: every problem found, each with a JSON Pointer
into the document and a plain message."""

from __future__ import annotations

from typing import Any

from app.definitions import choice, intrinsics, paths, resources
from app.engine.run_limits import MAX_COUNTER, MAX_DURATION

STATE_TYPES = {"Task", "Choice", "Wait", "Parallel", "Map", "Pass", "Succeed", "Fail"}
# States that move on by Next or End.
_FLOWING = {"Task", "Wait", "Parallel", "Map", "Pass"}
_WITH_RESULT = {"Task", "Parallel", "Map"}
_WITH_PARAMETERS = {"Task", "Parallel", "Map", "Pass"}
_JITTER = {"FULL", "NONE"}
_IO = {"InputPath", "OutputPath"}
_FLOW = {"Next", "End"}
_RESULT = {"ResultPath", "Parameters", "ResultSelector", "Retry", "Catch"}
FIELDS = {
    "Pass": _IO | _FLOW | {"ResultPath", "Parameters", "Result"},
    "Task": _IO
    | _FLOW
    | _RESULT
    | {
        "Resource",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
    },
    "Choice": _IO | {"Choices", "Default"},
    "Wait": _IO | _FLOW | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"},
    "Succeed": _IO,
    "Fail": {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _IO | _FLOW | _RESULT | {"Branches"},
    "Map": _IO
    | _FLOW
    | _RESULT
    | {"ItemProcessor", "Iterator", "ItemsPath", "ItemSelector", "MaxConcurrency"},
}
MACHINE_FIELDS = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "ProcessorConfig"}


def pointer(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class Checker:
    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []
        # Where each state name was first seen: names are unique across the whole machine,
        # Parallel branches and Map processors included (as in Step Functions).
        self.names: dict[str, tuple[str | int, ...]] = {}

    def add(self, where: tuple[str | int, ...], message: str) -> None:
        self.errors.append({"pointer": pointer(*where), "message": message})

    # -- machines ---------------------------------------------------------------------------

    def machine(self, doc: Any, where: tuple[str | int, ...], *, top: bool = False) -> None:
        if not isinstance(doc, dict):
            self.add(where, "a state machine must be a JSON object")
            return
        states = doc.get("States")
        if not isinstance(states, dict) or not states:
            self.add((*where, "States"), "States must be a non-empty object")
            states = {}
        for field in doc:
            if field not in MACHINE_FIELDS:
                self.add((*where, field), f"unknown or unsupported field '{field}'")
        start = doc.get("StartAt")
        if not isinstance(start, str):
            self.add((*where, "StartAt"), "StartAt must name the first state")
        elif states and start not in states:
            self.add((*where, "StartAt"), f"StartAt names '{start}', which is not a state")
        if top and "TimeoutSeconds" in doc:
            self.positive_int(doc["TimeoutSeconds"], (*where, "TimeoutSeconds"))
        for name in states:  # this machine's names first: a nested repeat is the one flagged
            at = (*where, "States", name)
            if name in self.names:
                self.add(
                    at,
                    f"state name '{name}' is used twice in the machine "
                    f"(first at {pointer(*self.names[name])})",
                )
            else:
                self.names[name] = at
        for name, state in states.items():
            self.state(name, state, states, (*where, "States", name))
        if isinstance(start, str) and start in states:
            reached = self.reachable(start, states)
            for name in states:
                if name not in reached:
                    self.add(
                        (*where, "States", name), f"state '{name}' cannot be reached from StartAt"
                    )
            if not any(_ends(states[name], states) for name in reached):
                self.add(
                    (*where, "States"),
                    "no state can end the execution: no Succeed or Fail state, nor one with "
                    "End: true, can be reached from StartAt",
                )

    @staticmethod
    def reachable(start: str, states: dict[str, Any]) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name in seen or name not in states:
                continue
            seen.add(name)
            state = states[name] if isinstance(states[name], dict) else {}
            targets = [state.get("Next"), state.get("Default")]
            targets += [r.get("Next") for r in state.get("Choices") or [] if isinstance(r, dict)]
            targets += [c.get("Next") for c in state.get("Catch") or [] if isinstance(c, dict)]
            todo += [t for t in targets if isinstance(t, str)]
        return seen

    # -- states -----------------------------------------------------------------------------

    def state(self, name: str, state: Any, states: dict[str, Any], where: tuple) -> None:
        if len(name) > 80:
            self.add(where, "a state name has at most 80 characters")
        if not isinstance(state, dict):
            self.add(where, "a state must be a JSON object")
            return
        kind = state.get("Type")
        if kind not in STATE_TYPES:
            self.add(
                (*where, "Type"),
                f"unknown state type {kind!r}; expected one of {', '.join(sorted(STATE_TYPES))}",
            )
            return
        for field in state:
            if field not in FIELDS[kind] and field not in ("Type", "Comment"):
                self.add(
                    (*where, field), f"unknown or unsupported field '{field}' in a {kind} state"
                )
        if kind in _FLOWING:
            has_next, has_end = "Next" in state, state.get("End") is True
            if has_next == has_end:
                self.add(where, f"a {kind} state needs exactly one of Next or End: true")
        elif "Next" in state or "End" in state:
            self.add(where, f"a {kind} state ends the machine: it takes neither Next nor End")
        if "Next" in state and state["Next"] not in states:
            self.add((*where, "Next"), f"Next names '{state['Next']}', which is not a state")
        for field in ("InputPath", "OutputPath"):
            if field in state and kind != "Fail":
                self.path(state[field], (*where, field), nullable=True)
        if "ResultPath" in state and kind in _WITH_RESULT | {"Pass"}:
            self.reference_path(state["ResultPath"], (*where, "ResultPath"), nullable=True)
        if "Parameters" in state and kind in _WITH_PARAMETERS:
            self.template(state["Parameters"], (*where, "Parameters"))
        if "ResultSelector" in state and kind in _WITH_RESULT:
            self.template(state["ResultSelector"], (*where, "ResultSelector"))
        if kind in _WITH_RESULT:
            self.retry(state.get("Retry"), (*where, "Retry"))
            self.catch(state.get("Catch"), states, (*where, "Catch"))
        getattr(self, "_" + kind.lower())(state, states, where)

    def _task(self, state: dict, states: dict, where: tuple) -> None:
        try:
            resources.parse(state.get("Resource"))
        except ValueError as exc:
            self.add((*where, "Resource"), str(exc))
        for field in ("TimeoutSeconds", "HeartbeatSeconds"):
            if field in state:
                self.positive_int(state[field], (*where, field))
            if f"{field}Path" in state:
                self.reference_path(state[f"{field}Path"], (*where, f"{field}Path"))
                if field in state:
                    self.add(where, f"set {field} or {field}Path, not both")
        if isinstance(state.get("TimeoutSeconds"), int) and isinstance(
            state.get("HeartbeatSeconds"), int
        ):
            if state["HeartbeatSeconds"] >= state["TimeoutSeconds"]:
                self.add(
                    (*where, "HeartbeatSeconds"),
                    "HeartbeatSeconds must be smaller than TimeoutSeconds",
                )

    def _pass(self, state: dict, states: dict, where: tuple) -> None:
        pass

    def _succeed(self, state: dict, states: dict, where: tuple) -> None:
        pass

    def _fail(self, state: dict, states: dict, where: tuple) -> None:
        for field in ("Error", "Cause"):
            if field in state and f"{field}Path" in state:
                self.add(where, f"set {field} or {field}Path, not both")
            if field in state and not isinstance(state[field], str):
                self.add((*where, field), f"{field} must be a string")
            if f"{field}Path" in state:
                value = state[f"{field}Path"]
                if isinstance(value, str) and value.startswith("States."):
                    self.intrinsic(value, (*where, f"{field}Path"))
                else:
                    self.path(value, (*where, f"{field}Path"))

    def _wait(self, state: dict, states: dict, where: tuple) -> None:
        given = [f for f in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if f in state]
        if len(given) != 1:
            self.add(
                where,
                "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath",
            )
        if "Seconds" in state and (
            isinstance(state["Seconds"], bool)
            or not isinstance(state["Seconds"], int)
            or state["Seconds"] < 0
            or state["Seconds"] > MAX_DURATION
        ):
            self.add(
                (*where, "Seconds"),
                f"Seconds must be a non-negative integer of at most {MAX_DURATION} (ten years)",
            )
        if "Timestamp" in state and choice.parse_timestamp(state["Timestamp"]) is None:
            self.add(
                (*where, "Timestamp"),
                "Timestamp must be an RFC 3339 timestamp, e.g. 2026-01-01T00:00:00Z",
            )
        for field in ("SecondsPath", "TimestampPath"):
            if field in state:
                self.reference_path(state[field], (*where, field))

    def _choice(self, state: dict, states: dict, where: tuple) -> None:
        rules = state.get("Choices")
        if not isinstance(rules, list) or not rules:
            self.add((*where, "Choices"), "Choices must be a non-empty array of rules")
            rules = []
        for i, rule in enumerate(rules):
            self.rule(rule, (*where, "Choices", i), top=True)
            if isinstance(rule, dict) and rule.get("Next") not in states:
                self.add(
                    (*where, "Choices", i, "Next"),
                    f"Next names {rule.get('Next')!r}, which is not a state",
                )
        if "Default" in state and state["Default"] not in states:
            self.add(
                (*where, "Default"), f"Default names '{state['Default']}', which is not a state"
            )

    def _parallel(self, state: dict, states: dict, where: tuple) -> None:
        branches = state.get("Branches")
        if not isinstance(branches, list) or not branches:
            self.add((*where, "Branches"), "Branches must be a non-empty array of state machines")
            return
        for i, branch in enumerate(branches):
            self.machine(branch, (*where, "Branches", i))

    def _map(self, state: dict, states: dict, where: tuple) -> None:
        if "Parameters" in state and "ItemSelector" in state:
            self.add(
                (*where, "ItemSelector"),
                "set ItemSelector or Parameters (its former name), not both",
            )
        field = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
        if field not in state:
            self.add(where, "a Map state needs an ItemProcessor (or Iterator)")
        else:
            processor = state[field]
            if (
                isinstance(processor, dict)
                and processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
            ):
                self.add(
                    (*where, field, "ProcessorConfig"), "only INLINE Map processing is supported"
                )
            self.machine(processor, (*where, field))
        if "ItemsPath" in state:
            self.reference_path(state["ItemsPath"], (*where, "ItemsPath"))
        if "ItemSelector" in state:
            self.template(state["ItemSelector"], (*where, "ItemSelector"))
        if "MaxConcurrency" in state and (
            isinstance(state["MaxConcurrency"], bool)
            or not isinstance(state["MaxConcurrency"], int)
            or state["MaxConcurrency"] < 0
        ):
            self.add((*where, "MaxConcurrency"), "MaxConcurrency must be a non-negative integer")

    # -- rules ------------------------------------------------------------------------------

    def rule(self, rule: Any, where: tuple, *, top: bool = False) -> None:
        if not isinstance(rule, dict):
            self.add(where, "a Choice rule must be a JSON object")
            return
        if not top and "Next" in rule:
            self.add((*where, "Next"), "only top-level Choice rules have Next")
        if top and "Next" not in rule:
            self.add(where, "a top-level Choice rule needs Next")
        for combinator in ("And", "Or"):
            if combinator in rule:
                inner = rule[combinator]
                if not isinstance(inner, list) or not inner:
                    self.add(
                        (*where, combinator), f"{combinator} must be a non-empty array of rules"
                    )
                    return
                for i, r in enumerate(inner):
                    self.rule(r, (*where, combinator, i))
                return
        if "Not" in rule:
            self.rule(rule["Not"], (*where, "Not"))
            return
        operator = choice.rule_operator(rule)
        if operator is None:
            self.add(
                where,
                "a Choice rule needs a comparison operator (e.g. StringEquals), an Is… test, or And/Or/Not",
            )
            return
        if "Variable" not in rule:
            self.add(where, "a comparison needs Variable")
        else:
            self.path(rule["Variable"], (*where, "Variable"))
        value = rule[operator]
        at = (*where, operator)
        if operator.endswith("Path"):
            self.path(value, at)
        elif operator in choice.TESTS or operator.startswith("Boolean"):
            if not isinstance(value, bool):
                self.add(at, f"{operator} takes true or false")
        elif operator.startswith("Numeric"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.add(at, f"{operator} takes a number")
        elif operator.startswith("Timestamp"):
            if choice.parse_timestamp(value) is None:
                self.add(at, f"{operator} takes an RFC 3339 timestamp")
        elif not isinstance(value, str):
            self.add(at, f"{operator} takes a string")

    # -- errors -----------------------------------------------------------------------------

    def error_names(self, names: Any, where: tuple, last: bool) -> None:
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            self.add(where, "ErrorEquals must be a non-empty array of error names")
            return
        if "States.ALL" in names and (len(names) > 1 or not last):
            self.add(where, "States.ALL must appear alone, in the last Retrier or Catcher")

    def retry(self, retriers: Any, where: tuple) -> None:
        if retriers is None:
            return
        if not isinstance(retriers, list):
            self.add(where, "Retry must be an array of Retriers")
            return
        for i, r in enumerate(retriers):
            at = (*where, i)
            if not isinstance(r, dict):
                self.add(at, "a Retrier must be a JSON object")
                continue
            self.error_names(r.get("ErrorEquals"), (*at, "ErrorEquals"), i == len(retriers) - 1)
            if "IntervalSeconds" in r:
                self.positive_int(r["IntervalSeconds"], (*at, "IntervalSeconds"))
            if "MaxDelaySeconds" in r:
                self.positive_int(r["MaxDelaySeconds"], (*at, "MaxDelaySeconds"))
            if "MaxAttempts" in r and (
                isinstance(r["MaxAttempts"], bool)
                or not isinstance(r["MaxAttempts"], int)
                or not 0 <= r["MaxAttempts"] <= MAX_COUNTER
            ):
                self.add(
                    (*at, "MaxAttempts"),
                    f"MaxAttempts must be a non-negative integer of at most {MAX_COUNTER}",
                )
            if "BackoffRate" in r and (
                isinstance(r["BackoffRate"], bool)
                or not isinstance(r["BackoffRate"], int | float)
                or r["BackoffRate"] < 1
            ):
                self.add((*at, "BackoffRate"), "BackoffRate must be a number of at least 1.0")
            if "JitterStrategy" in r and r["JitterStrategy"] not in _JITTER:
                self.add((*at, "JitterStrategy"), "JitterStrategy is FULL or NONE")

    def catch(self, catchers: Any, states: dict, where: tuple) -> None:
        if catchers is None:
            return
        if not isinstance(catchers, list):
            self.add(where, "Catch must be an array of Catchers")
            return
        for i, c in enumerate(catchers):
            at = (*where, i)
            if not isinstance(c, dict):
                self.add(at, "a Catcher must be a JSON object")
                continue
            self.error_names(c.get("ErrorEquals"), (*at, "ErrorEquals"), i == len(catchers) - 1)
            if c.get("Next") not in states:
                self.add((*at, "Next"), f"Next names {c.get('Next')!r}, which is not a state")
            if "ResultPath" in c:
                self.reference_path(c["ResultPath"], (*at, "ResultPath"), nullable=True)

    # -- values -----------------------------------------------------------------------------

    def positive_int(self, value: Any, where: tuple) -> None:
        """A number of seconds: a positive integer of at most MAX_DURATION (ten years)."""
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.add(where, "must be a positive integer")
        elif value > MAX_DURATION:
            self.add(where, f"must be at most {MAX_DURATION} seconds (ten years)")

    def path(self, value: Any, where: tuple, *, nullable: bool = False) -> None:
        if value is None and nullable:
            return
        try:
            paths.compile_path(
                value[1:] if isinstance(value, str) and value.startswith("$$") else value
            )
        except ValueError as exc:
            self.add(where, f"{value!r} is not a valid path: {exc}")

    def reference_path(self, value: Any, where: tuple, *, nullable: bool = False) -> None:
        if value is None and nullable:
            return
        try:
            paths.reference_steps(value)
        except ValueError as exc:
            self.add(where, f"{value!r} is not a valid reference path: {exc}")

    def intrinsic(self, value: str, where: tuple) -> None:
        try:
            intrinsics.parse(value)
        except ValueError as exc:
            self.add(where, str(exc))

    def template(self, template: Any, where: tuple) -> None:
        if isinstance(template, dict):
            for key, value in template.items():
                if isinstance(key, str) and key.endswith(".$"):
                    if not isinstance(value, str):
                        self.add(
                            (*where, key), "a '.$' field takes a path or an intrinsic function"
                        )
                    elif value.startswith("States."):
                        self.intrinsic(value, (*where, key))
                    else:
                        self.path(value, (*where, key))
                else:
                    self.template(value, (*where, key))
        elif isinstance(template, list):
            for i, item in enumerate(template):
                self.template(item, (*where, i))


def _ends(state: Any, states: dict[str, Any]) -> bool:
    """A terminal state: the execution (or branch) ends there. A state whose flow is broken
    (no Next, or a Next to nowhere) counts too: that is reported on its own."""
    if not isinstance(state, dict):
        return True
    kind = state.get("Type")
    return (
        kind in ("Succeed", "Fail")
        or state.get("End") is True
        or (kind in _FLOWING and state.get("Next") not in states)
    )


def problems(document: Any) -> list[dict[str, str]]:
    """Every problem of a state machine document; empty when it is valid."""
    checker = Checker()
    checker.machine(document, (), top=True)
    return checker.errors
