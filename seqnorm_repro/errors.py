"""How our one-line errors quote an exception: the reason a researcher needs, not a traceback."""


def one_line(err: BaseException, limit: int = 120) -> str:
    """`Type: first line` of an exception (its type alone where it has none), the line cut at `limit`."""
    first_line = str(err).partition("\n")[0][:limit]
    return f"{type(err).__name__}: {first_line}" if first_line else type(err).__name__
