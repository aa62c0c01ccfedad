from pydantic import BaseModel, ValidationError

from shared.forms import field_errors, nest


def test_dotted_names_build_nested_data_and_lists_close_gaps():
    data = nest([("a.b", "1"), ("a.c", " "), ("kids.0.name", "Lina"), ("kids.3.name", "Omar"), ("x", "y")])
    assert data == {"a": {"b": "1"}, "kids": [{"name": "Lina"}, {"name": "Omar"}], "x": "y"}


class Address(BaseModel):
    postcode: int


class Person(BaseModel):
    name: str
    address: Address
    tags: list[int] = []


def test_errors_are_placed_at_their_field_or_the_nearest_one_on_the_form():
    try:
        Person.model_validate({"address": {"postcode": "x"}, "tags": ["a"]})
    except ValidationError as exc:
        errors = field_errors(exc, {"name", "address.postcode", "tags"})
    assert set(errors) == {"name", "address.postcode", "tags"}
    assert errors["address.postcode"] == "Must be a whole number." and errors["name"] == "Required."
    try:
        Person.model_validate({"address": {"postcode": "x"}, "tags": ["a"]})
    except ValidationError as exc:
        danish = field_errors(exc, {"name", "address.postcode", "tags"}, "da")
    assert danish["address.postcode"] == "Skal være et helt tal." and danish["name"] == "Skal udfyldes."
    try:
        Person.model_validate({"name": "n", "address": {"postcode": "x"}})
    except ValidationError as exc:
        errors = field_errors(exc, {"name"})
    assert list(errors) == [""] and errors[""].startswith("address.postcode:")
