"""Paper trading's domain rules: contracts, orders, matching, charges, positions, margin and
settlement, as pure functions and frozen dataclasses (no web, no store).

Units, used in every module of the package:

==========  ==================================================================================
money       ``Decimal`` in the product's currency (INR or USD), exact; amounts a broker would
            book (charges, settlement cash) are rounded half-up to 0.01 (paise, cents)
price       ``Decimal`` per unit of the underlying, on the product's tick for orders
quantity    ``int`` units of the underlying (a NIFTY lot is 65 units, a US contract 100);
            positions are signed (long > 0, short < 0)
risk        margin scans reprice with the float pricers (``deltastream.pricing``) and return
            ``Decimal`` rounded to 0.01
==========  ==================================================================================
"""
