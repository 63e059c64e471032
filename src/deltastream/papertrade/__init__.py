"""Paper trading as a service: orders checked by :mod:`deltastream.trading`'s rules, filled
against the live snapshots' quotes and persisted by :mod:`deltastream.store.trading`.

Units as in :mod:`deltastream.trading`: money and prices ``Decimal`` in the contract's
currency, quantities ``int`` units of the underlying.
"""
