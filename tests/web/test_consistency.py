"""Each served option's price and Greeks are reproduced by the pricing engine from the
chain's own inputs (spot_price, strike, time_to_expiry, rate, dividend_yield, iv), to the
precision they are served with (IV to 6 significant digits, Greeks to 5, prices to 7)."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.pricing import black_scholes_merton as bsm


@pytest.mark.parametrize("product", ["IDX", "SEC"])
def test_served_numbers_are_reproduced_from_served_inputs(client, product):
    body = client.get(f"/api/data/chain/{product}?limit=10&strikes=201").get_json()
    checked = 0
    for chain in body["chains"]:
        for side, is_call in (("calls", True), ("puts", False)):
            opts = [o for o in chain[side] if o["iv"] is not None]
            k = np.array([o["strike"] for o in opts])
            iv = np.array([o["iv"] for o in opts])
            g = bsm.greeks(chain["spot_price"], k, chain["time_to_expiry"], chain["rate"],
                           chain["dividend_yield"], iv, is_call)
            scale = chain["spot_price"]
            for field in ("mid", "delta", "gamma", "theta", "vega", "rho"):
                served = np.array([o[field] for o in opts])
                ours = g.price if field == "mid" else getattr(g, field)
                # Greeks rounded to 5 digits (5e-5), from an IV rounded to 6: far from the
                # money a Greek moves ~d² times the IV's relative change.
                assert np.allclose(served, ours, rtol=1e-4, atol=1e-8 * scale), field
            checked += len(opts)
        # The forward and the ATM straddle follow from the same inputs.
        t = chain["time_to_expiry"]
        assert chain["forward"] == pytest.approx(
            chain["spot_price"] * np.exp((chain["rate"] - chain["dividend_yield"]) * t))
        atm = chain["strikes"].index(chain["atm_strike"]) if chain["atm_strike"] in chain[
            "strikes"] else None
        if atm is not None:
            assert chain["atm_straddle_price"] == pytest.approx(
                chain["calls"][atm]["mid"] + chain["puts"][atm]["mid"])
    assert checked > 100
