"""Products: exchange, contract terms, rates, expiry rules and market-model parameters.

The catalogue file format (TOML, validated by pydantic, with a JSON Schema) is in
docs/catalog.md.
"""

from .loader import Catalog, CatalogError, catalog_json_schema, load_catalog
from .product import Product

__all__ = ["Catalog", "CatalogError", "Product", "catalog_json_schema", "load_catalog"]
