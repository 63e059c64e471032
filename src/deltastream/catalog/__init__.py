"""Products: exchange, contract terms, rates, expiry rules and market-model parameters."""

from .loader import Catalog, CatalogError, load_catalog
from .product import Product

__all__ = ["Catalog", "CatalogError", "Product", "load_catalog"]
