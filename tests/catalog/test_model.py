"""The catalogue file's JSON Schema: published, in step with the loader, and documented."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from deltastream.catalog import catalog_json_schema
from deltastream.catalog.defaults import DEFAULT_PRODUCTS
from deltastream.catalog.model import ProductModel
from deltastream.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _as_json(toml: str) -> object:
    """A TOML document as JSON data (dates become their ISO strings)."""
    return json.loads(json.dumps(tomllib.loads(toml), default=str))


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = catalog_json_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_the_schema_is_published_by_the_cli_and_in_the_docs():
    result = CliRunner().invoke(main, ["catalog-schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == catalog_json_schema()
    assert json.loads((DOCS / "catalog.schema.json").read_text()) == catalog_json_schema(), (
        "docs/catalog.schema.json is stale: deltastream catalog-schema > "
        "docs/catalog.schema.json")


def test_the_documented_example_and_the_defaults_are_valid(validator, documented_example):
    assert not list(validator.iter_errors(_as_json(documented_example)))
    defaults = json.loads(json.dumps({"products": DEFAULT_PRODUCTS}))
    assert not list(validator.iter_errors(defaults))


@pytest.mark.parametrize(("toml", "path"), [
    ("[products.NIFTY]\nstrike_step = -5\n", ["products", "NIFTY", "strike_step"]),
    ("[products.NIFTY]\nstrikes = 5\n", ["products", "NIFTY"]),
    ("[products.NEW]\nname = 'x'\n", ["products", "NEW"]),
    ("[products.NIFTY]\nexpiries = [{ count = 2, rules = [{ kind = 'fortnightly' }] }]\n",
     ["products", "NIFTY", "expiries", 0, "rules", 0, "kind"]),
    ("[products.NIFTY]\nclose = '25:00'\n", ["products", "NIFTY", "close"]),
    ("[products.'a b']\nrate = 0.1\n", ["products"]),
    ("[prodcts.NIFTY]\nrate = 0.1\n", []),
])
def test_the_schema_rejects_what_the_loader_rejects(validator, toml, path):
    paths = [list(e.absolute_path) for e in validator.iter_errors(_as_json(toml))]
    assert path in paths and all(p[:len(path)] == path for p in paths)


def test_every_field_is_documented():
    doc = (DOCS / "catalog.md").read_text()
    table = set(re.findall(r"^\| `(\w+)` \|", doc, re.M))
    fields = set(ProductModel.model_fields)
    nested = {"name", "count", "rules", "kind", "weekday", "from", "until",
              "first", "every_weeks", "move", "timing"}
    assert table == fields | nested
