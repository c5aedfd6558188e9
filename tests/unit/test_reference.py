"""Repository names and tags against the distribution-spec grammar, with generated inputs."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dockyard.domain.errors import NameInvalid, TagInvalid
from dockyard.domain.reference import MAX_NAME_LENGTH, validate_name, validate_tag

# -- names ------------------------------------------------------------------------------------------
# [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*

ALNUM = string.ascii_lowercase + string.digits
alnum_run = st.text(alphabet=ALNUM, min_size=1, max_size=12)
separator = st.sampled_from([".", "_", "__"]) | st.integers(1, 4).map(lambda n: "-" * n)
component = st.builds(
    lambda first, rest: first + "".join(sep + run for sep, run in rest),
    alnum_run,
    st.lists(st.tuples(separator, alnum_run), max_size=4),
)
valid_name = (
    st.lists(component, min_size=1, max_size=12)
    .map("/".join)
    .filter(lambda name: len(name) <= MAX_NAME_LENGTH)
)

# Characters that never occur in a valid name, wherever they are inserted.
FOREIGN = st.sampled_from(
    [*string.ascii_uppercase, *" :@!#$%^&*()+=~`'\"\\,;<>?[]{}|", "é", "\x00", "\n", "\t"]
)
BAD_JOINS = ["___", "._", "_.", "-.", ".-", "_-", "-_", "..", "//", "/.", "./", "/-", "-/", "/_", "_/"]


@st.composite
def invalid_name(draw: st.DrawFn) -> str:
    name = draw(valid_name)
    kind = draw(st.sampled_from(["insert", "lead", "trail", "join", "empty-component"]))
    if kind == "insert":
        at = draw(st.integers(0, len(name)))
        return name[:at] + draw(FOREIGN) + name[at:]
    if kind == "lead":
        return draw(st.sampled_from([".", "_", "__", "-", "/"])) + name
    if kind == "trail":
        return name + draw(st.sampled_from([".", "_", "__", "-", "/"]))
    if kind == "join":
        return name + draw(st.sampled_from(BAD_JOINS)) + draw(valid_name)
    return name + "//" + name


@given(valid_name)
@example("a")
@example("a" * MAX_NAME_LENGTH)
@example("a-----b/c__d/e.f/0_1")
def test_every_name_of_the_grammar_is_accepted(name: str) -> None:
    assert validate_name(name) == name


@given(invalid_name())
@example("")
@example("foo\n")  # `$` would match before a trailing newline
@example("Foo")
@example("foo/")
@example("/foo")
@example("a___b")
def test_names_outside_the_grammar_are_refused(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_name(name)


too_long_name = st.tuples(valid_name, component).map(
    lambda pair: pair[0] + f"/{pair[1]}" * (MAX_NAME_LENGTH // (len(pair[1]) + 1) + 1)
)


@given(too_long_name)
def test_names_longer_than_the_limit_are_refused(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_name(name)


def test_name_length_boundary() -> None:
    assert validate_name("a/" * 127 + "ab") == "a/" * 127 + "ab"  # 256 characters
    with pytest.raises(NameInvalid):
        validate_name("a/" * 128 + "a")  # 257


# -- tags -------------------------------------------------------------------------------------------

valid_tag = st.from_regex(re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", re.ASCII), fullmatch=True)
TAG_FOREIGN = st.sampled_from([*" :@/!#$%^&*()+=~`'\"\\,;<>?[]{}|", "é", "\x00", "\n", "\t"])


@st.composite
def invalid_tag(draw: st.DrawFn) -> str:
    tag = draw(valid_tag)
    kind = draw(st.sampled_from(["insert", "lead", "long"]))
    if kind == "insert":
        at = draw(st.integers(0, len(tag)))
        return tag[:at] + draw(TAG_FOREIGN) + tag[at:]
    if kind == "lead":
        return draw(st.sampled_from([".", "-"])) + tag
    return tag + "a" * (129 - len(tag))


@given(valid_tag)
@example("latest")
@example("_")
@example("A" * 128)
@example("v1.2.3-rc_1")
def test_every_tag_of_the_grammar_is_accepted(tag: str) -> None:
    assert validate_tag(tag) == tag


@given(invalid_tag())
@example("")
@example("latest\n")
@example(".hidden")
@example("-x")
@example("a" * 129)
@example("sha256:abc")
def test_tags_outside_the_grammar_are_refused(tag: str) -> None:
    with pytest.raises(TagInvalid):
        validate_tag(tag)
