"""The public surface: complete, sorted, documented, and the contract's names present."""

from __future__ import annotations

import inspect

import myreports_async
import myreports_async.testing

CONTRACT_NAMES = {
    "MyReportsClient", "TokenProvider", "StaticToken", "RetryPolicy", "Invoice", "Page",
    "InvoiceDetail", "InvoiceItem", "MyReportsError", "AuthenticationError",
    "PermissionDeniedError", "NotFoundError", "BadRequestError", "RateLimitError",
    "ServerError", "TransportError", "DecodeError",
}  # fmt: skip


def test_all_is_sorted_and_complete() -> None:
    exported = myreports_async.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(myreports_async).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(exported) - {"__version__"}


def test_contract_names_are_exported() -> None:
    assert set(myreports_async.__all__) >= CONTRACT_NAMES


def test_every_public_name_is_documented() -> None:
    for module in (myreports_async, myreports_async.testing):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                assert inspect.getdoc(value), f"{module.__name__}.{name} has no docstring"


def test_every_public_client_method_is_documented() -> None:
    for name, member in inspect.getmembers(myreports_async.MyReportsClient):
        if not name.startswith("_") and callable(member):
            assert inspect.getdoc(member), f"MyReportsClient.{name} has no docstring"


def test_errors_form_one_tree() -> None:
    for name in myreports_async.__all__:
        value = getattr(myreports_async, name)
        if inspect.isclass(value) and issubclass(value, Exception):
            assert issubclass(value, myreports_async.MyReportsError)


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("myreports_async").joinpath("py.typed").is_file()
