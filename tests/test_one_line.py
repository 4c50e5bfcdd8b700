"""one_line: the exception text our one-line errors quote."""

from seqnorm_repro.errors import one_line


def test_one_line_keeps_the_type_and_the_first_line_only():
    assert one_line(RuntimeError("bad header.\nTraceback details")) == "RuntimeError: bad header."


def test_one_line_of_an_exception_without_a_message_is_its_type():
    assert one_line(AssertionError()) == "AssertionError"


def test_one_line_cuts_a_long_line():
    assert one_line(ValueError("x" * 500), limit=10) == "ValueError: xxxxxxxxxx"
